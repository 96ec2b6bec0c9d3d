// Issue 15 item 1, tsvpn <-> tsvpn: the TUN is opened with TSO/USO and checksum offload, so the
// sending kernel hands the daemon 64 KB TCP super-packets, which its TUN reader thread cuts into
// MTU-sized packets (native/src/gso_segment.cc) before each is sealed as one ESP packet. A 100 MB TCP transfer of
// random bytes arrives with the SHA-256 it was sent with, over raw ESP and over ESP in UDP, the
// sender's status shows the offload on and super-packets cut, and nothing is dropped as malformed.
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
});
