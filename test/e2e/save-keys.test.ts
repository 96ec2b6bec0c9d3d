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
import { until } from '../../interop/lab/wait.js';
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
    // rekeys within seconds: the rekeyed IKE SA and Child SAs must get their lines too
    edit: (_side, p) => {
      p.ike = { ...(p.ike as object), rekey: '6s' };
      p.child = { ...(p.child as object), rekey: '4s' };
    },
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

  const lines = (f: string): string[] => readFileSync(join(keys, f), 'utf8').trim().split('\n');

  it('writes one IKE SA line and two ESP lines when the tunnel comes up, mode 0600', () => {
    const { left, right } = pair!.hosts;
    const ike = lines(IKE_TABLE);
    const esp = lines(ESP_TABLE);
    expect(ike).toHaveLength(1);
    expect(ike[0]).toMatch(/^[0-9a-f]{16},[0-9a-f]{16},[0-9a-f]{72},[0-9a-f]{72},"AES-GCM-256 with 16 octet ICV \[RFC5282\]",,,"NONE \[RFC4306\]"$/);
    expect(esp).toHaveLength(2);
    expect(esp[0]).toMatch(new RegExp(`^"IPv4","${left.outer}","${right.outer}","0x[0-9a-f]{8}","AES-GCM with 16 octet ICV \\[RFC4106\\]","0x[0-9a-f]{72}","NULL","0x"$`));
    expect(esp[1]).toMatch(new RegExp(`^"IPv4","${right.outer}","${left.outer}","0x[0-9a-f]{8}",`));
    for (const f of [IKE_TABLE, ESP_TABLE]) expect(statSync(join(keys, f)).mode & 0o777).toBe(0o600);
  });

  it('adds lines for the rekeyed IKE SA and Child SAs, and no key shows up in the log', { timeout: 30_000 }, async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      const p1 = await ping(left.ns, left.inner, right.inner);
      expect(p1.code, p1.out).toBe(0);
      // Child SA rekeys at ~4 s and ~8 s, the IKE SA's at ~6 s: the last Child SA is made on the new IKE SA
      await until(() => `${lines(IKE_TABLE).length} IKE, ${lines(ESP_TABLE).length} ESP lines`, { what: 'the lines of two IKE SAs and three Child SAs', timeout: 20_000, done: () => lines(IKE_TABLE).length >= 2 && lines(ESP_TABLE).length >= 6 });
      const p2 = await ping(left.ns, left.inner, right.inner);
      expect(p2.code, p2.out).toBe(0);
      capture!.proc.kill('SIGINT'); // tcpdump writes out what it has and exits
      const cr = await capture!.result;
      expect(cr.code, cr.err).toBe(0);
      // the keys are in the files and nowhere in what the daemons log
      const secrets = [...lines(IKE_TABLE).flatMap((l) => l.split(',').slice(2, 4)), ...lines(ESP_TABLE).map((l) => l.split(',')[5]!.replace(/"|0x/g, ''))];
      for (const s of secrets) expect(pair!.logs()).not.toContain(s);
    });
  });

  it('lets tshark show the ICMP inside ESP before and after the rekeys, and the IKE payloads of every IKE SA; without the keys neither', () => {
    const { left, right } = pair!.hosts;
    // ICMP echo requests and replies between the inner addresses, from ESP packets on the outer path
    const icmp = tshark(pcap, keys, 'esp && icmp', ['ip.src', 'icmp.type', 'esp.spi']);
    expect(icmp.filter((l) => l.startsWith(`${left.outer},${left.inner}\t8\t`)).length, icmp.join('\n')).toBeGreaterThanOrEqual(6);
    expect(icmp.filter((l) => l.startsWith(`${right.outer},${right.inner}\t0\t`)).length, icmp.join('\n')).toBeGreaterThanOrEqual(6);
    expect(new Set(icmp.map((l) => l.split('\t')[2])).size, icmp.join('\n')).toBeGreaterThanOrEqual(4); // two SPIs before, two after
    // every CREATE_CHILD_SA (exchange 36), on the first IKE SA and on its successor, shows SA (33) and Nonce (40) inside SK
    const rekeys = tshark(pcap, keys, 'isakmp.exchangetype == 36', ['isakmp.ispi', 'isakmp.typepayload']);
    expect(rekeys.length).toBeGreaterThanOrEqual(6);
    expect(new Set(rekeys.map((l) => l.split('\t')[0])).size, rekeys.join('\n')).toBe(2);
    for (const l of rekeys) expect(l.split('\t')[1]!.split(','), l).toEqual(expect.arrayContaining(['33', '40']));
    // IKE_AUTH (exchange 35) with the payloads inside SK: IDi (35) and AUTH (39) from the initiator
    const auth = tshark(pcap, keys, 'isakmp.exchangetype == 35', ['isakmp.typepayload']);
    expect(auth.some((l) => l.split(',').includes('35') && l.split(',').includes('39')), auth.join('\n')).toBe(true);
    // the same capture without the key tables: encrypted, nothing inside visible
    expect(tshark(pcap, empty, 'esp && icmp', ['ip.src'])).toEqual([]);
    expect(tshark(pcap, empty, 'isakmp.exchangetype == 35', ['isakmp.typepayload']).some((l) => l.split(',').includes('39'))).toBe(false);
  });
});
