// Target: a batch of ESP packets through processInbound (src/ipsec/inbound.ts), against the same
// packets one at a time (a differential check). processInbound opens each run of one SA's packets
// with one call and in three passes (checks before the ICV, opening, the rest in packet order);
// its drops, deliveries and replay windows must be exactly those of one packet at a time.
// Two SADs with the same two AES-GCM tunnel SAs (one with 32-bit, one with extended sequence
// numbers, RFC 4303 §2.2.1): the batched one with the native AEAD when the addon is built (its
// batch calls), the other with node:crypto, one packet per call. Input: a list of ops, each
// [op][arg], making one batch of up to 24 packets laid back to back in one buffer, as the UDP
// reader hands them over:
//   0: the next sequence number of SA (arg & 1);   1: a jump of arg*997 numbers ahead;
//   2: a copy of packet arg of this batch;          3: packet arg with one octet flipped;
//   4: a packet of an earlier batch again;          5: arg octets of garbage (unknown SPI, short);
//   6: an old number of SA (arg & 1), arg*64 behind its highest (RFC 4303 §3.4.3 window).
// A finding: the two differ in what they delivered (bytes, order), in the drops (index and
// reason), or in any counter; or an exception.
import { processInbound } from '../../src/ipsec/inbound.js';
import { Sad, type EspSa, type SaSpec } from '../../src/ipsec/sad.js';
import { createEspTransform, type EspTransform } from '../../src/ipsec/esp-transform.js';
import { espPadLength, writeEspTrailer, ESP_HEADER_LENGTH } from '../../src/wire/esp.js';
import { NEXT_HEADER_IPV4 } from '../../src/ipsec/outbound.js';
import { gcm, nativeAead, pair, udpPacket } from '../../test/ipsec/helpers.js';
import { invariant, type FuzzTarget } from '../target.js';

const SPIS = [0x2000_0001, 0x2000_0002];
const MAX_BATCH = 24;
const HISTORY = 32;

interface Sender { spi: number; esn: boolean; tx: EspTransform; highest: bigint }
interface Twin { batched: Sad; single: Sad; senders: Sender[]; history: Uint8Array[] }

function twin(): Twin {
  const batched = new Sad({ inPlaceAead: nativeAead });
  const single = new Sad();
  const senders = SPIS.map((spi, i) => {
    const esn = i === 1;
    const p = pair(() => gcm('node'), { spi, esn });
    batched.addInbound({ ...p.in, cipher: gcm(nativeAead ? 'native' : 'node') } as SaSpec, 0);
    single.addInbound({ ...p.in, cipher: gcm('node') }, 0);
    return { spi, esn, tx: createEspTransform(p.out.cipher), highest: 0n };
  });
  return { batched, single, senders, history: [] };
}

let t = twin();
let runs = 0;

/** An ESP packet of `s` with sequence number `seq` (RFC 4303 §2.2: the low 32 bits on the wire) around a UDP packet of `size` octets. */
function seal(s: Sender, seq: bigint, size: number): Uint8Array {
  const inner = udpPacket('192.0.2.1', '203.0.113.1', 1000, 2000, size, Number(seq & 0xffn));
  const pad = espPadLength(inner.length, s.tx.blockSize);
  const body = inner.length + pad + 2;
  const buf = new Uint8Array(ESP_HEADER_LENGTH + s.tx.ivLength + body + s.tx.icvLength);
  const v = new DataView(buf.buffer);
  v.setUint32(0, s.spi);
  v.setUint32(4, Number(seq & 0xffff_ffffn));
  const pt = ESP_HEADER_LENGTH + s.tx.ivLength;
  buf.set(inner, pt);
  writeEspTrailer(buf, pt + inner.length, pad, NEXT_HEADER_IPV4);
  return buf.subarray(0, s.tx.seal(buf, 0, body, Number(seq >> 32n), Number(seq & 0xffff_ffffn), s.esn));
}

function batchOf(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < data.length && out.length < MAX_BATCH; i += 2) {
    const [op, arg] = [data[i] % 7, data[i + 1]];
    const s = t.senders[arg & 1];
    // a 32-bit SA cannot go past 2^32 - 1 (RFC 4303 §3.3.3: it is rekeyed first)
    const limit = s.esn ? 1n << 40n : 0xffff_ffffn;
    switch (op) {
      case 0:
      case 1: {
        const next = s.highest + (op === 0 ? 1n : BigInt(arg) * 997n);
        if (next > limit) break;
        s.highest = next;
        out.push(seal(s, next, 20 + arg));
        break;
      }
      case 2:
        if (out.length > 0) out.push(out[arg % out.length].slice());
        break;
      case 3:
        if (out.length > 0) {
          const p = out[arg % out.length].slice();
          p[(arg * 7) % p.length] ^= 1 << (arg % 8);
          out.push(p);
        }
        break;
      case 4:
        if (t.history.length > 0) out.push(t.history[arg % t.history.length].slice());
        break;
      case 5:
        out.push(Uint8Array.from({ length: arg % 40 }, (_, k) => (k * 31 + arg) & 0xff));
        break;
      default: {
        const old = s.highest - BigInt(arg) * 64n;
        if (old >= 1n) out.push(seal(s, old, 30));
      }
    }
  }
  return out;
}

/** The packets back to back in one buffer (the reader's slab): views, as the datapath gets them. */
function slab(packets: Uint8Array[]): Uint8Array[] {
  const buf = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
  let at = 0;
  return packets.map((p) => {
    buf.set(p, at);
    at += p.length;
    return buf.subarray(at - p.length, at);
  });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const counters = (sad: Sad): string => JSON.stringify({ all: sad.counters.inbound, sas: SPIS.map((spi) => (sad.inbound(spi) as EspSa).counters) });

export const espBatch: FuzzTarget = {
  name: 'esp-batch',
  maxLength: 64,
  run(data) {
    if (++runs % 2000 === 0) t = twin(); // keep the windows from drifting to the end of the sequence space
    const packets = batchOf(data);
    if (packets.length === 0) return;
    const got = processInbound(t.batched, slab(packets), 1);
    const delivered: string[] = [];
    const drops: string[] = [];
    packets.forEach((p, i) => {
      const one = processInbound(t.single, [p.slice()], 1);
      for (const q of one.packets) delivered.push(hex(q));
      for (const d of one.drops) drops.push(`${i}:${d.reason}`);
    });
    invariant(JSON.stringify(got.drops.map((d) => `${d.index}:${d.reason}`)) === JSON.stringify(drops), `drops differ: batch ${got.drops.map((d) => `${d.index}:${d.reason}`).join(',')} one by one ${drops.join(',')}`);
    invariant(JSON.stringify(got.packets.map(hex)) === JSON.stringify(delivered), `deliveries differ: batch ${got.packets.length}, one by one ${delivered.length}`);
    invariant(counters(t.batched) === counters(t.single), `counters differ: ${counters(t.batched)} against ${counters(t.single)}`);
    for (const p of packets) if (t.history.push(p) > HISTORY) t.history.shift();
  },
};
