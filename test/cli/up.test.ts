import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { peerAnnouncer, runUp } from '../../src/cli/up.js';
import { upStatus } from './fixtures.js';

describe('tsvpn up', () => {
  it('announces each peer once when its Child SA is installed, and again when it goes', () => {
    const lines: string[] = [];
    const announce = peerAnnouncer((l) => void lines.push(l));
    const s = upStatus();
    s.ikeSas[0]!.children[0]!.state = 'CREATED';
    announce(s);
    expect(lines).toEqual([]);
    announce(upStatus());
    announce(upStatus()); // nothing new
    expect(lines).toEqual(["tunnel left is up: 203.0.113.0/25 <=> 203.0.113.128/25 with 'right.example' at 198.51.100.2[4500] (ESP in UDP, tsvpn-left mtu 1438)\n"]);
    // a second peer of a %any responder, then the first one leaves
    const two = upStatus();
    const other = structuredClone(two.ikeSas[0]!);
    other.remoteId = 'branch2.example';
    other.remote = '198.51.100.7:4500';
    two.ikeSas.push(other);
    announce(two);
    expect(lines[1]).toBe("tunnel left is up: 203.0.113.0/25 <=> 203.0.113.128/25 with 'branch2.example' at 198.51.100.7[4500] (ESP in UDP, tsvpn-left mtu 1438)\n");
    two.ikeSas.shift();
    announce(two);
    expect(lines[2]).toBe("tunnel left is down with 'right.example' at 198.51.100.2[4500]\n");
    announce(undefined); // the daemon went down
    expect(lines[3]).toBe("tunnel left is down with 'branch2.example' at 198.51.100.7[4500]\n");
    expect(lines).toHaveLength(4);
  });

  it('a config error is exit code 2 with one line per problem and nothing on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-up-'));
    try {
      const file = join(dir, 'p.json');
      writeFileSync(file, JSON.stringify({ name: 'x y', psk: 'hunter2-secret', colour: 'blue' }));
      let out = '';
      let err = '';
      const code = await runUp(file, { level: 'info', format: 'text' }, { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
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

  it('examples/pubkey.json before make-certs.sh: the missing files, and the script that makes them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-up-'));
    try {
      const file = join(dir, 'pubkey.json');
      copyFileSync(fileURLToPath(new URL('../../examples/pubkey.json', import.meta.url)), file);
      writeFileSync(join(dir, 'make-certs.sh'), '');
      let err = '';
      const code = await runUp(file, { level: 'info', format: 'text' }, { out: () => undefined, err: (t) => void (err += t), env: {} });
      expect(code).toBe(2);
      expect(err).toBe(
        [
          `tsvpn: ${file} is not a valid peer file:`,
          `/local/key: cannot read ${dir}/certs/left.key: no such file`,
          `/local/cert: cannot read ${dir}/certs/left.pem: no such file`,
          `/remote/ca/0: cannot read ${dir}/certs/ca.pem: no such file`,
          `(${dir}/make-certs.sh makes the CA, certificates and keys the examples use)`,
          '',
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
