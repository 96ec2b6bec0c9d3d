// `tsvpn demo`, the README's first command, run as a user runs it: it must pass on its own
// and leave no namespace, process or temp directory behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { listNs } from '../../src/io/netns.js';
import { labOk, TSVPN_BIN } from './helpers/lab.js';

describe.skipIf(!labOk)('tsvpn demo (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  it('brings a tunnel up between two namespaces, carries traffic, shows both ends and cleans up', { timeout: 60_000 }, async () => {
    const p = spawn(process.execPath, [TSVPN_BIN, 'demo'], { cwd: '/' });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => p.on('close', r));
    expect(code, out + err).toBe(0);
    expect(out).toMatch(/3 sent, 3 received/);
    expect(out).toMatch(/demo-left: #1, INSTALLED, TUNNEL/);
    expect(out).toMatch(/demo-right: #1, INSTALLED, TUNNEL/);
    expect(out).toMatch(/tsvpn up exited with 0 \(left\) and 0 \(right\)/);
    expect(out).toMatch(/demo passed/);
    const namespaces = [...out.matchAll(/^\s+(tsvpn-[lr]-[0-9a-f]+): outer/gm)].map((m) => m[1]);
    expect(namespaces).toHaveLength(2);
    for (const ns of namespaces) expect(listNs()).not.toContain(ns);
    const dir = /peer files and logs in (\S+)/.exec(out)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });
});
