// examples/make-certs.sh, then examples/pubkey.json and its right-hand counterpart
// examples/pubkey-right.json, as they ship (only the addresses changed to the lab's): a
// certificate tunnel comes up between the demo namespaces and carries TCP to port 443,
// the one service its selectors allow.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import type { PeerJson, Side } from '../../src/cli/lab-tunnel.js';
import { HELPERS, labOk, nsRun, nsStart, ping, step, withPair } from './helpers/lab.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

describe.skipIf(!labOk)('examples/make-certs.sh and examples/pubkey*.json (needs root, namespaces, /dev/net/tun, openssl)', () => {
  it('make the CA and both certificates, and the two example files bring a certificate tunnel up', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-certs-'));
    try {
      const made = execFileSync(join(EXAMPLES, 'make-certs.sh'), [join(dir, 'certs')], { encoding: 'utf8' });
      expect(made).toMatch(/^made .*certs: ca\.pem .* valid 365 days\n$/);
      // a second run refuses to overwrite the keys
      expect(() => execFileSync(join(EXAMPLES, 'make-certs.sh'), [join(dir, 'certs')], { stdio: 'pipe' })).toThrow(/ca\.key exists/);

      const example = (side: Side): PeerJson => JSON.parse(readFileSync(join(EXAMPLES, side === 'left' ? 'pubkey.json' : 'pubkey-right.json'), 'utf8')) as PeerJson;
      await withPair(
        {
          names: { left: 'left-cert', right: 'right-cert' },
          edit: (side, p) => {
            const lab = { local: p.local as { addr: string }, remote: p.remote as { addr: string } };
            const e = example(side);
            for (const k of Object.keys(p)) delete p[k];
            // the example as shipped, with the lab's outer addresses and its cert paths made absolute
            const local = e.local as Record<string, string>;
            const remote = e.remote as Record<string, unknown>;
            local.addr = lab.local.addr;
            remote.addr = lab.remote.addr;
            for (const f of ['cert', 'key'] as const) if (local[f]) local[f] = join(dir, local[f]);
            if (remote.ca) remote.ca = (remote.ca as string[]).map((c) => join(dir, c));
            if (side === 'left') e.start = 'initiate';
            Object.assign(p, e);
          },
        },
        async (pair) => {
          await pair.waitInstalled(30_000);
          const { left, right } = pair.hosts;
          const st = await pair.status('left');
          expect(st.ikeSas[0]).toMatchObject({ state: 'ESTABLISHED', localId: 'left.example', remoteId: 'right.example', proposal: 'aes256gcm16-prfsha384-ecp384' });
          expect(st.ikeSas[0]!.children[0]).toMatchObject({ name: 'web', state: 'INSTALLED', remoteTs: ['203.0.113.128/25[tcp/443]'] });
          expect(readFileSync(pair.left.logFile, 'utf8')).toMatch(/^tunnel left-cert is up: 203\.0\.113\.0\/25 <=> 203\.0\.113\.128\/25\[tcp\/443\] with 'right\.example'/m);
          await step(pair, async () => {
            // TCP to 443 goes through the tunnel; ICMP is outside its selectors
            const sink = await nsStart(right.ns, process.execPath, [join(HELPERS, 'tcp-sink.mjs'), right.inner, '443'], 'listening');
            const src = await nsRun(left.ns, process.execPath, [join(HELPERS, 'tcp-source.mjs'), left.inner, right.inner, '443', String(64 * 1024)]);
            expect(src.code, src.err).toBe(0);
            const got = JSON.parse((await sink.result).out.trim().split('\n').at(-1)!) as { bytes: number; sha256: string };
            expect(got).toEqual({ bytes: 64 * 1024, sha256: (JSON.parse(src.out.trim()) as { sha256: string }).sha256 });
            expect((await pair.status('right')).ikeSas[0]!.children[0]!.packetsIn).toBeGreaterThan(0);
            expect((await ping(left.ns, left.inner, right.inner, ['-c', '1'])).code).not.toBe(0);
          });
          expect(await pair.down()).toEqual({ left: 0, right: 0 });
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
