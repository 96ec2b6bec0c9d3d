// `tsvpn up --save-keys <dir>` as an operator uses it: capture the outer path while the tunnel
// comes up and carries a ping, then let tshark (the Debian package) read the capture with the
// directory as its configuration directory, as strongSwan's save-keys docs describe. With the
// keys, tshark shows the IKE_AUTH payloads and the ICMP inside ESP; without them, neither.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TunnelPair } from '../../src/cli/lab-tunnel.js';
import { ESP_TABLE, IKE_TABLE } from '../../src/daemon/save-keys.js';
import { labOk, nsStart, ping, step, usePair } from './helpers/lab.js';

const hasTshark = spawnSync('tshark', ['--version']).error === undefined;

/** tshark on the capture with `configDir` as its personal configuration directory (the key tables live there). */
function tshark(pcap: string, configDir: string, filter: string, fields: string[]): string[] {
  const r = spawnSync('tshark', ['-n', '-r', pcap, '-o', 'esp.enable_encryption_decode:TRUE', '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    env: { ...process.env, WIRESHARK_CONFIG_DIR: configDir },
  });
  if (r.status !== 0) throw new Error(`tshark failed (${r.status}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

describe.skipIf(!labOk || !hasTshark)('tsvpn up --save-keys: tshark decrypts IKE and ESP of a capture (needs root, namespaces, /dev/net/tun, ping, tcpdump, tshark)', () => {
  const work = mkdtempSync(join(tmpdir(), 'tsvpn-keys-')); // mode 0700: a directory --save-keys accepts
  const keys = join(work, 'keys');
  const empty = join(work, 'no-keys');
  const pcap = join(work, 'outer.pcap');
  let capture: Awaited<ReturnType<typeof nsStart>> | undefined;
  const get = usePair({
    names: { left: 'keys-left', right: 'keys-right' },
    upArgs: { left: ['--save-keys', keys] },
    beforeStart: async (h) => {
      for (const d of [keys, empty]) spawnSync('mkdir', ['-m', '700', d]);
      // from before IKE_SA_INIT, so that the capture holds the whole IKE SA; --immediate-mode: SIGINT loses nothing
      capture = await nsStart(h.left.ns, 'tcpdump', ['-n', '-i', h.left.dev, '--immediate-mode', '-U', '-w', pcap, 'udp port 500 or udp port 4500 or ip proto 50'], 'listening on');
    },
  });
  let pair: TunnelPair | undefined;
  beforeAll(() => {
    pair = get();
  });
  afterAll(async () => {
    if (capture && capture.proc.exitCode === null) {
      capture.proc.kill('SIGTERM');
      await capture.result;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('writes one IKE SA line and two ESP lines, mode 0600, and no key anywhere in the log', async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      const p = await ping(left.ns, left.inner, right.inner);
      expect(p.code, p.out).toBe(0);
      capture!.proc.kill('SIGINT'); // tcpdump writes out what it has and exits
      const cr = await capture!.result;
      expect(cr.code, cr.err).toBe(0);
      const ike = readFileSync(join(keys, IKE_TABLE), 'utf8').trim().split('\n');
      const esp = readFileSync(join(keys, ESP_TABLE), 'utf8').trim().split('\n');
      expect(ike).toHaveLength(1);
      expect(ike[0]).toMatch(/^[0-9a-f]{16},[0-9a-f]{16},[0-9a-f]+,[0-9a-f]+,"AES-GCM-256 with 16 octet ICV \[RFC5282\]",,,"NONE \[RFC4306\]"$/);
      expect(esp).toHaveLength(2);
      expect(esp[0]).toMatch(new RegExp(`^"IPv4","${left.outer}","${right.outer}","0x[0-9a-f]{8}","AES-GCM with 16 octet ICV \\[RFC4106\\]","0x[0-9a-f]{72}","NULL","0x"$`));
      for (const f of [IKE_TABLE, ESP_TABLE]) expect(statSync(join(keys, f)).mode & 0o777).toBe(0o600);
      // the keys are in the files and nowhere in what the daemon logs
      const secrets = [...ike[0]!.split(',').slice(2, 4), ...esp.map((l) => l.split(',')[5]!.replace(/"|0x/g, ''))];
      for (const s of secrets) expect(pair!.logs()).not.toContain(s);
    });
  });

  it('lets tshark show the ICMP inside ESP and the IKE_AUTH payloads; without the keys it shows neither', () => {
    const { left, right } = pair!.hosts;
    // ICMP echo requests and replies between the inner addresses, from ESP packets on the outer path
    const icmp = tshark(pcap, keys, 'esp && icmp', ['ip.src', 'icmp.type']);
    expect(icmp.filter((l) => l === `${left.outer},${left.inner}\t8`).length, icmp.join('\n')).toBeGreaterThanOrEqual(3);
    expect(icmp.filter((l) => l === `${right.outer},${right.inner}\t0`).length, icmp.join('\n')).toBeGreaterThanOrEqual(3);
    // IKE_AUTH (exchange 35) with the payloads inside SK: IDi (35) and AUTH (39) from the initiator
    const auth = tshark(pcap, keys, 'isakmp.exchangetype == 35', ['isakmp.typepayload']);
    expect(auth.some((l) => l.split(',').includes('35') && l.split(',').includes('39')), auth.join('\n')).toBe(true);
    // the same capture without the key tables: encrypted, nothing inside visible
    expect(tshark(pcap, empty, 'esp && icmp', ['ip.src'])).toEqual([]);
    expect(tshark(pcap, empty, 'isakmp.exchangetype == 35', ['isakmp.typepayload']).some((l) => l.split(',').includes('39'))).toBe(false);
  });
});
