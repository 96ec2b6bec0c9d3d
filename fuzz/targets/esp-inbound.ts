// Target: ESP inbound (src/ipsec/inbound.ts) through a Sad holding two real SAs: AES-GCM in
// tunnel mode and AES-CBC + HMAC-SHA-256 in transport mode. Input: [mode][rest...]; mode
//   0: `rest` is the ESP packet as received (garbage; the dictionary holds both SPIs);
//   1: a valid packet of the GCM SA, fresh sequence number, XORed with `rest` (bit flips);
//   2: rest = [SA][plaintext]: the plaintext (payload | padding | Pad Length | Next Header,
//      RFC 4303 §2.4) sealed for that SA, so the checks after decryption (trailer, inner
//      packet, selectors) see the fuzzer's bytes.
// A finding: an exception (processInbound never throws on packet contents), or counters that
// do not account for the packet (delivered + dropped must be 1, each drop counted).
import { processInbound } from '../../src/ipsec/inbound.js';
import { Sad, type SaSpec } from '../../src/ipsec/sad.js';
import { createEspTransform, type EspCipherSpec, type EspTransform } from '../../src/ipsec/esp-transform.js';
import { totalDrops } from '../../src/ipsec/counters.js';
import { espPadLength, writeEspTrailer, ESP_HEADER_LENGTH } from '../../src/wire/esp.js';
import { IntegId } from '../../src/wire/constants.js';
import { NEXT_HEADER_IPV4 } from '../../src/ipsec/outbound.js';
import { gcm, pair, udpPacket } from '../../test/ipsec/helpers.js';
import { invariant, type FuzzTarget } from '../target.js';

const GCM_SPI = 0x1000_0001;
const CBC_SPI = 0x1000_0002;
const cbc = (): EspCipherSpec => ({ kind: 'cbc', encrKey: new Uint8Array(32).fill(3), integId: IntegId.HMAC_SHA2_256_128, integKey: new Uint8Array(32).fill(4), random: (b) => b.fill(9) });

interface Sender { spec: SaSpec; tx: EspTransform; seq: number }
const sad = new Sad();
const senders: Sender[] = [];
for (const [spi, cipher, mode] of [[GCM_SPI, () => gcm('node'), 'tunnel'], [CBC_SPI, cbc, 'transport']] as const) {
  const p = pair(cipher, { spi, mode });
  sad.addInbound(p.in, 0);
  senders.push({ spec: p.out, tx: createEspTransform(p.out.cipher), seq: 1 });
}

/** An ESP packet of `s` around `plain` (already holding its trailer), next sequence number. */
function seal(s: Sender, plain: Uint8Array): Uint8Array {
  const { tx } = s;
  const padded = Math.ceil(plain.length / tx.blockSize) * tx.blockSize;
  const buf = new Uint8Array(ESP_HEADER_LENGTH + tx.ivLength + padded + tx.icvLength);
  const seq = s.seq++;
  new DataView(buf.buffer).setUint32(0, s.spec.spi);
  new DataView(buf.buffer).setUint32(4, seq);
  buf.set(plain, ESP_HEADER_LENGTH + tx.ivLength);
  return buf.subarray(0, tx.seal(buf, 0, padded, 0, seq, false));
}

// a UDP packet the GCM SA's selectors admit (from 192.0.2.0/24 to 203.0.113.0/24, as received)
const inner = udpPacket('192.0.2.1', '203.0.113.1', 1000, 2000, 40);
const innerPad = espPadLength(inner.length, 4);
const validPlain = new Uint8Array(inner.length + innerPad + 2);
validPlain.set(inner);
writeEspTrailer(validPlain, inner.length, innerPad, NEXT_HEADER_IPV4);

function packetOf(data: Uint8Array): Uint8Array {
  const rest = data.subarray(1);
  switch (data[0] % 3) {
    case 0:
      return rest.slice();
    case 1: {
      const pkt = seal(senders[0], validPlain);
      for (let i = 0; i < rest.length && i < pkt.length; i++) pkt[i] ^= rest[i];
      return pkt;
    }
    default:
      return rest.length === 0 ? rest.slice() : seal(senders[rest[0] % senders.length], rest.subarray(1));
  }
}

const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);

export const espInbound: FuzzTarget = {
  name: 'esp-inbound',
  maxLength: 2000,
  dictionary: [u32(GCM_SPI), u32(CBC_SPI), Uint8Array.of(0, 0, 0, 0), Uint8Array.of(1, 2, 3, 4), Uint8Array.of(4), Uint8Array.of(41), Uint8Array.of(59), Uint8Array.of(0x45), Uint8Array.of(0x60)],
  run(data) {
    if (data.length === 0) return;
    const pkt = packetOf(data);
    const c = sad.counters.inbound;
    const packets = c.packets;
    const drops = totalDrops(c.drops);
    const got = processInbound(sad, [pkt], 1);
    invariant(c.packets === packets + 1, 'the packet was not counted');
    invariant(got.packets.length + got.drops.length === 1, `delivered ${got.packets.length} and dropped ${got.drops.length} of one packet`);
    invariant(totalDrops(c.drops) === drops + got.drops.length, 'a drop was not counted under its reason');
  },
};
