import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { runUp, upLine } from '../../src/cli/up.js';
import { upStatus } from './fixtures.js';

describe('tsvpn up', () => {
  it('announces the tunnel once a Child SA is installed, with selectors, peer and device', () => {
    expect(upLine(upStatus())).toBe(
      "tunnel left is up: 203.0.113.0/25 <=> 203.0.113.128/25 with 'right.example' at 198.51.100.2[4500] (ESP in UDP, tsvpn-left mtu 1438)",
    );
    const s = upStatus();
    s.ikeSas[0]!.children[0]!.state = 'CREATED';
    expect(upLine(s)).toBeUndefined();
    s.ikeSas = [];
    expect(upLine(s)).toBeUndefined();
  });

  it('a config error is exit code 2 with one line per problem and nothing on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-up-'));
    try {
      const file = join(dir, 'p.json');
      writeFileSync(file, JSON.stringify({ name: 'x y', psk: 'hunter2-secret', colour: 'blue' }));
      let out = '';
      let err = '';
      const code = await runUp(file, false, { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
      expect(code).toBe(2);
      expect(out).toBe('');
      const lines = err.trimEnd().split('\n');
      expect(lines[0]).toBe(`tsvpn: ${file} is not a valid peer file:`);
      expect(lines.slice(1).every((l) => /^(\/[^:]*|\(top level\)): /.test(l))).toBe(true);
      expect(err).toMatch(/^\/colour: /m);
      expect(err).not.toContain('hunter2-secret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
