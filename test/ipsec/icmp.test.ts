import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { netnsSupport } from '../../src/io/netns.js';
import { fragmentationNeeded, packetTooBig, tooBigReply } from '../../src/ipsec/icmp.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { decodeIpPacket } from '../../src/wire/ip.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { udpPacket } from './helpers.js';

const GW4 = ipToBytes('192.0.2.1'); // the tunnel's own inner address, source of the ICMP
const GW6 = ipToBytes('2001:db8:1::1');

/** Independent RFC 1071 check: the one's complement sum over data with its checksum is 0xffff. */
function sumsToOnes(...parts: Uint8Array[]): boolean {
  let sum = 0;
  for (const p of parts) {
    // each part starts on an even offset of the checksummed data in the uses below
    for (let i = 0; i < p.length; i++) sum += i % 2 === 0 ? p[i] * 256 : p[i];
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

function v4(size: number, o: { df?: boolean; src?: string; dst?: string; frag?: number; mf?: boolean } = {}): Uint8Array {
  const p = udpPacket(o.src ?? '192.0.2.7', o.dst ?? '203.0.113.9', 4000, 53, size - 28);
  const flags = (o.df ?? true ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.frag ?? 0) / 8);
  p[6] = flags >> 8;
  p[7] = flags & 0xff;
  return p;
}

function icmp4(type: number, code = 0, size = 1000): Uint8Array {
  const p = v4(size);
  p[9] = 1; // ICMP
  p[20] = type;
  p[21] = code;
  return p;
}

function v6(size: number, o: { src?: string; dst?: string } = {}): Uint8Array {
  return udpPacket(o.src ?? '2001:db8:1::7', o.dst ?? '2001:db8:2::9', 4000, 53, size - 48);
}

function icmp6(type: number, size = 1400): Uint8Array {
  const p = v6(size);
  p[6] = 58;
  p[40] = type;
  return p;
}

const u16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];
const u32 = (b: Uint8Array, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;

describe('IPv4 fragmentation needed (RFC 792, RFC 1191 §4)', () => {
  it('answers a too-big DF packet with type 3 code 4, the next-hop MTU and a 576-byte quote, checksums valid', () => {
    const inner = v4(1500);
    const r = fragmentationNeeded(inner, 1400, GW4)!;
    expect(r).toBeDefined();
    const h = decodeIpPacket(r);
    expect(h.version).toBe(4);
    expect(h.protocol).toBe(1);
    expect(h.totalLength).toBe(576); // RFC 1812 §4.3.2.3
    expect(r.length).toBe(576);
    expect([...h.src]).toEqual([...GW4]);
    expect([...h.dst]).toEqual([...ipToBytes('192.0.2.7')]);
    expect(h.ttl).toBeGreaterThan(0);
    expect([h.icmpType, h.icmpCode]).toEqual([3, 4]);
    expect(u16(r, 26)).toBe(1400); // RFC 1191 §4: Next-Hop MTU in the low half of the unused word
    expect(u16(r, 24)).toBe(0);
    expect([...r.subarray(28)]).toEqual([...inner.subarray(0, 548)]);
    expect(sumsToOnes(r.subarray(0, 20))).toBe(true); // IPv4 header checksum
    expect(sumsToOnes(r.subarray(20))).toBe(true); // ICMP checksum over the whole message
  });

  it('quotes a small packet whole (and the quote ends at its Total Length, not at trailing bytes)', () => {
    const inner = v4(300);
    const padded = new Uint8Array(320);
    padded.set(inner);
    const r = fragmentationNeeded(padded, 296, GW4)!;
    expect(r.length).toBe(20 + 8 + 300);
    expect([...r.subarray(28)]).toEqual([...inner]);
    expect(sumsToOnes(r.subarray(20))).toBe(true);
  });

  it('sends nothing for a packet that fits, or one without DF (the caller may fragment it)', () => {
    expect(fragmentationNeeded(v4(1400), 1400, GW4)).toBeUndefined();
    expect(fragmentationNeeded(v4(1500, { df: false }), 1400, GW4)).toBeUndefined();
  });

  it('never answers an ICMP error, but does answer an echo request (RFC 1812 §4.3.2.7)', () => {
    for (const t of [3, 4, 5, 11, 12]) expect(fragmentationNeeded(icmp4(t), 576, GW4)).toBeUndefined();
    expect(fragmentationNeeded(icmp4(8), 576, GW4)).toBeDefined();
  });

  it('never answers a non-first fragment, nor a zero, loopback, multicast or broadcast source or a multicast/broadcast destination', () => {
    expect(fragmentationNeeded(v4(1500, { frag: 1480 }), 1400, GW4)).toBeUndefined();
    for (const src of ['0.0.0.0', '127.0.0.1', '224.0.0.5', '255.255.255.255', '240.0.0.1']) {
      expect(fragmentationNeeded(v4(1500, { src }), 1400, GW4)).toBeUndefined();
    }
    for (const dst of ['239.1.2.3', '255.255.255.255']) {
      expect(fragmentationNeeded(v4(1500, { dst }), 1400, GW4)).toBeUndefined();
    }
  });

  it('returns undefined for malformed packets and throws RangeError only for bad arguments', () => {
    expect(fragmentationNeeded(new Uint8Array(0), 1400, GW4)).toBeUndefined();
    expect(fragmentationNeeded(v4(1500).subarray(0, 1000), 100, GW4)).toBeUndefined(); // truncated
    expect(fragmentationNeeded(v6(1500), 1280, GW4)).toBeUndefined(); // not IPv4
    expect(() => fragmentationNeeded(v4(1500), 1400, GW6)).toThrow(RangeError);
    expect(() => fragmentationNeeded(v4(1500), 70000, GW4)).toThrow(RangeError);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff);
    for (let i = 0; i < 2000; i++) {
      const junk = v4(80 + (i % 200));
      for (let k = 0; k < 4; k++) junk[rnd() % 40] = rnd();
      expect(() => tooBigReply(junk, 60, GW4, GW6)).not.toThrow();
    }
  });
});

describe('ICMPv6 Packet Too Big (RFC 4443 §3.2)', () => {
  it('answers with type 2 code 0, the 32-bit MTU, a quote up to 1280 bytes, checksum over the pseudo-header valid', () => {
    const inner = v6(1500);
    const r = packetTooBig(inner, 1280, GW6)!;
    const h = decodeIpPacket(r);
    expect(h.version).toBe(6);
    expect(h.protocol).toBe(58);
    expect(r.length).toBe(1280); // RFC 4443 §2.4(c)
    expect(h.totalLength).toBe(1280);
    expect([...h.src]).toEqual([...GW6]);
    expect([...h.dst]).toEqual([...ipToBytes('2001:db8:1::7')]);
    expect([h.icmpType, h.icmpCode]).toEqual([2, 0]);
    expect(u32(r, 44)).toBe(1280);
    expect([...r.subarray(48)]).toEqual([...inner.subarray(0, 1232)]);
    // RFC 8200 §8.1 pseudo-header: src, dst, 32-bit upper-layer length, zeros, next header 58
    const len = r.length - 40;
    const pseudo = new Uint8Array(40);
    pseudo.set(r.subarray(8, 40), 0);
    pseudo.set([len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, 0, 0, 0, 58], 32);
    expect(sumsToOnes(pseudo, r.subarray(40))).toBe(true);
  });

  it('writes the MTU as a 32-bit field and quotes a short packet whole', () => {
    const inner = v6(1400);
    const r = packetTooBig(inner, 1300, GW6)!;
    expect(u16(r, 44)).toBe(0);
    expect(u32(r, 44)).toBe(1300);
    expect(packetTooBig(v6(1000), 999, GW6)!.length).toBe(40 + 8 + 1000);
  });

  it('never answers ICMPv6 errors or Redirect, answers informational messages (RFC 4443 §2.4(e))', () => {
    for (const t of [1, 2, 3, 4, 137]) expect(packetTooBig(icmp6(t), 1280, GW6)).toBeUndefined();
    expect(packetTooBig(icmp6(128), 1280, GW6)).toBeDefined();
  });

  it('never answers an unspecified, loopback or multicast source; does answer a multicast destination (§2.4(e.3))', () => {
    for (const src of ['::', '::1', 'ff02::1']) expect(packetTooBig(v6(1500, { src }), 1280, GW6)).toBeUndefined();
    expect(packetTooBig(v6(1500, { dst: 'ff0e::1' }), 1280, GW6)).toBeDefined();
  });

  it('answers a non-first fragment: its source needs the smaller path MTU too', () => {
    const inner = v6(1500);
    const frag = new Uint8Array(inner.length + 8);
    frag.set(inner.subarray(0, 40), 0);
    frag[6] = 44; // RFC 8200 §4.5 Fragment header
    frag[40] = 17;
    frag[42] = (1448 >> 8) & 0xff; // offset 181 * 8 = 1448, M = 0
    frag[43] = 1448 & 0xf8;
    frag.set(inner.subarray(40), 48);
    frag[4] = (frag.length - 40) >> 8;
    frag[5] = (frag.length - 40) & 0xff;
    expect(decodeIpPacket(frag).fragmentOffset).toBe(1448);
    expect(packetTooBig(frag, 1280, GW6)).toBeDefined();
  });

  it('sends nothing for a packet that fits; throws RangeError for a wrong-size source address', () => {
    expect(packetTooBig(v6(1280), 1280, GW6)).toBeUndefined();
    expect(() => packetTooBig(v6(1500), 1280, GW4)).toThrow(RangeError);
  });
});

describe('tooBigReply', () => {
  it('picks the message by IP version and needs a source address of that family', () => {
    expect(decodeIpPacket(tooBigReply(v4(1500), 1400, GW4, GW6)!).icmpType).toBe(3);
    expect(decodeIpPacket(tooBigReply(v6(1500), 1280, GW4, GW6)!).icmpType).toBe(2);
    expect(tooBigReply(v4(1500), 1400, undefined, GW6)).toBeUndefined();
    expect(tooBigReply(v6(1500), 1280, GW4, undefined)).toBeUndefined();
    expect(tooBigReply(new Uint8Array([0x50, 0, 0]), 100, GW4, GW6)).toBeUndefined();
  });

  it('internetChecksum matches the RFC 1071 §3 worked example', () => {
    // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, so the checksum is ~ddf2 = 220d
    expect(internetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
  });
});

// Linux as the judge: a UDP socket sends a DF datagram into a TUN device, the reply built here
// goes back in, and the kernel must accept it (checksums, quote, MTU field) and lower its
// path MTU for that destination, which `ip route get` (and outerMtu) then report.
const CHILD = `
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
const url = (p) => new URL(p, process.env.REPO_URL).href;
const { openTun } = await import(url('src/io/tun.ts'));
const { tooBigReply } = await import(url('src/ipsec/icmp.ts'));
const { outerMtu } = await import(url('src/io/routes.ts'));
const { ipToBytes } = await import(url('src/wire/selectors.ts'));
const ip = (...a) => execFileSync('ip', a);
const tun = openTun({ name: 'tsvpn-ic0', mtu: 1500, batch: 16 });
ip('link', 'set', 'lo', 'up');
ip('addr', 'add', '192.0.2.1/24', 'dev', tun.name);
ip('-6', 'addr', 'add', '2001:db8:1::1/64', 'dev', tun.name, 'nodad');
ip('link', 'set', tun.name, 'up');
ip('route', 'add', '203.0.113.0/24', 'dev', tun.name);
ip('-6', 'route', 'add', '2001:db8:2::/48', 'dev', tun.name);
const out = { before: [outerMtu('203.0.113.9'), outerMtu('2001:db8:2::9')], replies: 0 };
tun.onBatch((b) => {
  for (let i = 0; i < b.count; i++) {
    const pkt = Uint8Array.from(b.packet(i));
    const udp = pkt[0] >> 4 === 4 ? pkt[9] === 17 : pkt[6] === 17;
    if (!udp) continue;
    const r = tooBigReply(pkt, pkt[0] >> 4 === 4 ? 1300 : 1280, ipToBytes('192.0.2.254'), ipToBytes('2001:db8:1::fe'));
    if (!r) continue;
    out.replies += tun.writeBatch(r, Uint32Array.of(0), Uint32Array.of(r.length), 1);
  }
});
const s4 = dgram.createSocket('udp4');
const s6 = dgram.createSocket('udp6');
await new Promise((ok) => s4.bind(0, ok));
await new Promise((ok) => s6.bind(0, ok));
const end = Date.now() + 8000;
let now = out.before;
while (Date.now() < end && (now[0] !== 1300 || now[1] !== 1280)) {
  s4.send(Buffer.alloc(1400 - 28), 9, '203.0.113.9');
  s6.send(Buffer.alloc(1400 - 48), 9, '2001:db8:2::9');
  await new Promise((ok) => setTimeout(ok, 200));
  now = [outerMtu('203.0.113.9'), outerMtu('2001:db8:2::9')];
}
out.after = now;
s4.close();
s6.close();
tun.close();
process.stdout.write('RESULT ' + JSON.stringify(out) + '\\n');
`;

describe.skipIf(!netnsSupport().ok)('Linux accepts the replies (needs root and /dev/net/tun)', () => {
  it('a fragmentation-needed and a Packet Too Big written into a TUN lower the kernel path MTU', () => {
    const ns = `tsvpn-ic-${randomBytes(3).toString('hex')}`;
    const repo = resolve(import.meta.dirname, '../..');
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    try {
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', CHILD], {
        cwd: repo,
        encoding: 'utf8',
        timeout: 25_000,
        env: { ...process.env, REPO_URL: pathToFileURL(repo + '/').href },
      });
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      expect(line, r.stderr).toBeDefined();
      const res = JSON.parse(line!.slice(7)) as { before: number[]; after: number[]; replies: number };
      expect(res.before).toEqual([1500, 1500]);
      expect(res.replies).toBeGreaterThanOrEqual(2);
      expect(res.after).toEqual([1300, 1280]);
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});
