// Issue 15 item 1, tsvpn <-> tsvpn: the TUN is opened with TSO/USO and checksum offload, so the
// sending kernel hands the daemon 64 KB TCP super-packets, which its TUN reader thread cuts into
// MTU-sized packets (native/src/gso_segment.cc) before each is sealed as one ESP packet. A 100 MB TCP transfer of
// random bytes arrives with the SHA-256 it was sent with, over raw ESP and over ESP in UDP, the
// sender's status shows the offload on and super-packets cut, and nothing is dropped as malformed.
// The other way, the receiver writes runs of one UDP flow's datagrams into its TUN as USO
// super-packets (src/wire/gro-coalesce.ts): bursts of UDP datagrams over IPv4 and IPv6 inner
// addresses each arrive once, byte for byte, while the receiver's status counts coalesced writes.
import { describe, expect, it } from 'vitest';

import { labOk, nsRun, nsStart, withPair } from './helpers/lab.js';

const PORT = 5301;
const MB = 100;

const SERVER = `
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], ${PORT}))
s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
    n += len(d)
print(n, h.hexdigest(), flush=True)
`;

const CLIENT = `
import hashlib, os, socket, sys
c = socket.create_connection((sys.argv[2], ${PORT}), timeout=60, source_address=(sys.argv[1], 0))
h = hashlib.sha256()
for _ in range(${MB}):
    chunk = os.urandom(1 << 20)
    h.update(chunk)
    c.sendall(chunk)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
print(${MB} << 20, h.hexdigest(), flush=True)
`;

const UDP_PORT = 5302;
const BURSTS = 300;
const PER_BURST = 24;

// datagram i: its number, then octets derived from it; every 5th burst ends with a short one
const UDP_COMMON = `
import hashlib, socket, struct, sys, time
def body(i):
    n = 200 if (i % ${PER_BURST} == ${PER_BURST - 1} and (i // ${PER_BURST}) % 5 == 0) else 1300
    seed = hashlib.sha256(struct.pack('!I', i)).digest()
    return struct.pack('!I', i) + (seed * (n // 32 + 1))[: n - 4]
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
`;

const UDP_SINK = `${UDP_COMMON}
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[1], ${UDP_PORT}))
s.settimeout(3)
print('ready', flush=True)
seen, bad = set(), 0
try:
    while len(seen) < ${BURSTS * PER_BURST}:
        d = s.recv(65535)
        i = struct.unpack('!I', d[:4])[0]
        if d != body(i) or i in seen:
            bad += 1
        seen.add(i)
except socket.timeout:
    pass
print(len(seen), bad, flush=True)
`;

const UDP_SOURCE = `${UDP_COMMON}
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.connect((sys.argv[2], ${UDP_PORT}))
for b in range(${BURSTS}):
    for i in range(b * ${PER_BURST}, (b + 1) * ${PER_BURST}):
        s.send(body(i))
    time.sleep(0.003)
print('sent', flush=True)
`;

describe.skipIf(!labOk)('TUN offloads, tsvpn <-> tsvpn (needs root, /dev/net/tun, python3)', () => {
  for (const encap of ['auto', 'udp'] as const) {
    it(`${MB} MB of TCP through super-packets cut into ESP packets arrive intact (encap ${encap})`, { timeout: 120_000 }, async () => {
      const edit = (_side: string, p: Record<string, unknown>): void => {
        p.encap = encap;
      };
      await withPair({ names: { left: `tof-${encap}-l`, right: `tof-${encap}-r` }, edit }, async (pair) => {
        await pair.waitInstalled();
        const { left, right } = pair.hosts;
        const before = await pair.status('left');
        expect(before.tun?.offload).toMatch(/^tso on/);
        const server = await nsStart(right.ns, 'python3', ['-c', SERVER, right.inner], 'ready');
        const sent = await nsRun(left.ns, 'python3', ['-c', CLIENT, left.inner, right.inner], 90_000);
        expect(sent.code, sent.err).toBe(0);
        const got = await server.result;
        expect(got.code, got.err).toBe(0);
        expect(got.out.trim().split('\n').pop()).toBe(sent.out.trim());
        expect(sent.out.trim()).toMatch(new RegExp(`^${MB << 20} [0-9a-f]{64}$`));
        const [sl, sr] = [await pair.status('left'), await pair.status('right')];
        expect(sl.encap).toBe(encap === 'udp' ? 'udp' : 'raw');
        // the sending kernel handed over super-packets (100 MB in 64 KB ones would be 1600)
        expect(sl.tun?.superPackets ?? 0).toBeGreaterThan(100);
        expect(sl.drops.outbound['tun-offload-malformed'] ?? 0).toBe(0);
        expect(sr.drops.inbound['tun-write'] ?? 0).toBe(0);
        // the receiver wrote runs of segments as GRO super-packets, one TUN write each
        expect(sr.tun?.coalesced ?? 0).toBeGreaterThan(1000);
      });
    });
  }

  it('bursts of UDP datagrams are written into the receiver\'s TUN as USO super-packets and arrive once each, intact (IPv4 and IPv6 inside)', { timeout: 120_000 }, async () => {
    const v6 = { left: '2001:db8:1::1', right: '2001:db8:2::1' };
    const edit = (side: string, p: Record<string, unknown>): void => {
      p.encap = 'udp';
      const [mine, theirs] = side === 'left' ? ['2001:db8:1::/64', '2001:db8:2::/64'] : ['2001:db8:2::/64', '2001:db8:1::/64'];
      const local = p.local as { ts: string[] };
      const remote = p.remote as { ts: string[] };
      p.local = { ...local, ts: [...local.ts, mine] };
      p.remote = { ...remote, ts: [...remote.ts, theirs] };
    };
    const beforeStart = async (h: { left: { ns: string }; right: { ns: string } }): Promise<void> => {
      // the IPv6 inner hosts, beside the IPv4 ones the lab puts on lo
      for (const [ns, addr] of [[h.left.ns, v6.left], [h.right.ns, v6.right]] as const) {
        const r = await nsRun(ns, 'ip', ['-6', 'addr', 'add', `${addr}/128`, 'dev', 'lo', 'nodad']);
        expect(r.code, r.err).toBe(0);
      }
    };
    await withPair({ names: { left: 'tof-uso-l', right: 'tof-uso-r' }, edit, beforeStart }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const before = await pair.status('right');
      expect(before.tun?.offload).toBe('tso on, uso on');
      let coalesced = before.tun?.coalesced ?? 0;
      for (const [from, to] of [[left.inner, right.inner], [v6.left, v6.right]]) {
        const sink = await nsStart(right.ns, 'python3', ['-c', UDP_SINK, to], 'ready');
        const sent = await nsRun(left.ns, 'python3', ['-c', UDP_SOURCE, from, to], 60_000);
        expect(sent.code, sent.err).toBe(0);
        const got = await sink.result;
        expect(got.code, got.err).toBe(0);
        // every datagram once, each the bytes it was sent with
        expect(got.out.trim().split('\n').pop(), `${from} -> ${to}`).toBe(`${BURSTS * PER_BURST} 0`);
        const sr = await pair.status('right');
        // the receiver wrote runs of datagrams as super-packets, one TUN write each
        expect(sr.tun?.coalesced ?? 0, `${from} -> ${to}`).toBeGreaterThan(coalesced + BURSTS);
        expect(sr.drops.inbound['tun-write'] ?? 0).toBe(0);
        coalesced = sr.tun?.coalesced ?? 0;
      }
    });
  });
});
