// The NAT lab on its own (no VPN): the inside host reaches the outside host through the
// masquerading router, a TCP transfer through it keeps its hash, and the router's
// keepalive counter counts exactly the RFC 3948 §2.3 NAT-keepalive shape (one 0xFF byte
// to UDP 4500), not other small datagrams. The matrix's keepalive check relies on this.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { listNs, netnsSupport } from '../../src/io/netns.js';
import { createNatLab } from '../../interop/lab/nat.js';
import { ping, tcpTransfer } from '../../interop/lab/traffic.js';

const net = netnsSupport();
const nft = spawnSync('nft', ['--version']).status === 0;
const ok = net.ok && nft;
const why = !net.ok ? net.why : !nft ? 'nft is missing: apt-get install nftables' : '';

function sendUdp(ns: string, to: string, port: number, hexPayload: string): void {
  const js = `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('${hexPayload}','hex'),${port},'${to}',()=>s.close());`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

describe.skipIf(!ok)(`NAT lab: three namespaces and nftables masquerade ${why ? `(skipped: ${why})` : '(needs root and nft)'}`, () => {
  it('carries ping and TCP from inside to outside and counts only keepalive-shaped datagrams', async () => {
    const lab = createNatLab({ prefix: 'tsvnt', randomPorts: true });
    try {
      const p = ping(lab.inside.ns, lab.inside.outer, lab.outside.outer, 1);
      expect(p.ok, p.detail).toBe(true);
      const t = await tcpTransfer({ serverNs: lab.outside.ns, serverAddr: lab.outside.outer, clientNs: lab.inside.ns, clientAddr: lab.inside.outer, port: 5202, bytes: 64 * 1024 });
      expect(t.ok, t.detail).toBe(true);
      const before = lab.counters();
      sendUdp(lab.inside.ns, lab.outside.outer, 4500, 'ff'); // NAT-keepalive
      sendUdp(lab.inside.ns, lab.outside.outer, 4500, 'fe'); // one byte, not 0xFF
      sendUdp(lab.inside.ns, lab.outside.outer, 4500, 'ffff'); // two bytes
      const after = lab.counters();
      expect(after['keepalives-out'] - before['keepalives-out']).toBe(1);
      expect(after['udp4500-out'] - before['udp4500-out']).toBe(3);
    } finally {
      lab.destroy();
    }
    expect(listNs().filter((n) => n.startsWith('tsvnt-'))).toEqual([]);
  }, 60_000);
});
