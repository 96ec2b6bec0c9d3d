// ESP seal/open micro-benchmark: the outbound datapath (SPD lookup, padding, sequence number,
// AEAD seal into the batch slab) and the AEAD open of an ESP packet, for 64-, 512- and
// 1400-byte inner packets, AES-GCM-16 and ChaCha20-Poly1305, node:crypto, @noble and the
// native addon's in-place backend (skipped when the addon is not built). The "x32" cases seal
// and open a batch of 32 packets of one SA per call: the native backend then makes one call
// into the addon for the batch (sealBatch/openBatch), the others one per packet.
//
//   npx tsx bench/esp-seal-open.ts            full run (several seconds per case)
//   BENCH_QUICK=1 npx tsx bench/esp-seal-open.ts   smoke run (a few ms per case)

import b from 'benny';
import { Sad } from '../src/ipsec/sad.js';
import { Spd } from '../src/ipsec/spd.js';
import { processOutbound } from '../src/ipsec/outbound.js';
import { readEspTrailer } from '../src/wire/esp.js';
import type { AeadAlg, Backend } from '../src/crypto/aead.js';
import { nativeInPlaceAead } from '../src/io/native-aead.js';
import { ipToBytes, parseSelector } from '../src/wire/selectors.js';

const quick = process.env.BENCH_QUICK === '1';
const caseOptions = quick ? { maxTime: 0.05, minSamples: 2, delay: 0 } : { maxTime: 2 };
// the addon's in-place AEAD, given to the SAD as the daemon gives it (undefined when not built)
const inPlaceAead = nativeInPlaceAead();

function innerPacket(size: number): Uint8Array {
  const p = new Uint8Array(size).fill(0x5a);
  p[0] = 0x45; // IPv4, IHL 5
  p[2] = size >> 8;
  p[3] = size & 0xff;
  p[8] = 64;
  p[9] = 17; // UDP
  p.set(ipToBytes('192.0.2.1'), 12);
  p.set(ipToBytes('203.0.113.1'), 16);
  return p;
}

function setup(alg: AeadAlg, backend: Backend) {
  const sad = new Sad({ inPlaceAead });
  const spd = new Spd();
  const keyWithSalt = new Uint8Array(36).fill(0x33); // 256-bit key + 4-octet salt for both;
  const sa = sad.addOutbound(
    {
      spi: 0x1234,
      mode: 'tunnel',
      esn: true, // 2^64 sequence numbers: the benchmark never exhausts the SA
      cipher: { kind: 'aead', alg, keyWithSalt, backend },
      localAddress: ipToBytes('198.51.100.1'),
      remoteAddress: ipToBytes('198.51.100.2'),
      localSelectors: [parseSelector('192.0.2.0/24')],
      remoteSelectors: [parseSelector('203.0.113.0/24')],
    },
    0,
  );
  spd.add({ local: sa.localSelectors, remote: sa.remoteSelectors, action: 'protect', sa });
  return { sad, spd, sa };
}

const cases = [];
for (const alg of ['aes-gcm-16', 'chacha20-poly1305'] as const) {
  for (const backend of ['node', 'noble', 'native'] as const) {
    if (backend === 'native' && !inPlaceAead) continue;
    for (const size of [64, 512, 1400]) {
      const label = `${alg}/${backend} ${size}B`;
      cases.push(
        b.add(`seal ${label}`, () => {
          const { sad, spd } = setup(alg, backend);
          const batch = [innerPacket(size)];
          return () => processOutbound(spd, sad, batch, 0);
        }, caseOptions),
        b.add(`open ${label}`, () => {
          const { sad, spd, sa } = setup(alg, backend);
          const esp = processOutbound(spd, sad, [innerPacket(size)], 0).esp[0].slice();
          const packet = new Uint8Array(esp.length);
          // Open the same packet repeatedly: the AEAD and trailer work, without the replay window.
          // open consumes its input (the native backend decrypts in place), so each call opens a
          // fresh copy; every backend pays the same copy.
          return () => {
            packet.set(esp);
            return readEspTrailer(sa.transform.open(packet, 0, true));
          };
        }, caseOptions),
      );
    }
  }
}

const BATCH = 32;
for (const alg of ['aes-gcm-16', 'chacha20-poly1305'] as const) {
  for (const backend of ['node', 'native'] as const) {
    if (backend === 'native' && !inPlaceAead) continue;
    for (const size of [64, 1400]) {
      const label = `${alg}/${backend} ${size}B x${BATCH}`;
      cases.push(
        b.add(`seal ${label}`, () => {
          const { sad, spd } = setup(alg, backend);
          const batch = Array.from({ length: BATCH }, () => innerPacket(size));
          return () => processOutbound(spd, sad, batch, 0);
        }, caseOptions),
        b.add(`open ${label}`, () => {
          const { sad, spd, sa } = setup(alg, backend);
          const sent = processOutbound(spd, sad, Array.from({ length: BATCH }, () => innerPacket(size)), 0);
          const sealed = sad.outboundPlan.slab.slice(0, sent.espOffset[BATCH - 1] + sent.espLength[BATCH - 1]);
          const offsets = sent.espOffset.slice(0, BATCH);
          const lengths = sent.espLength.slice(0, BATCH);
          const seqHigh = new Uint32Array(BATCH);
          const ok = new Uint8Array(BATCH);
          const packet = new Uint8Array(sealed.length);
          // as the single-packet case: a fresh copy of the same packets each time, no replay window
          return () => {
            packet.set(sealed);
            sa.transform.openRun(packet, offsets, lengths, seqHigh, 0, BATCH, true, ok);
            if (ok[BATCH - 1] !== 1) throw new Error('the batch did not open');
          };
        }, caseOptions),
      );
    }
  }
}

void b.suite('ESP seal/open (one packet per call; x32: a batch of 32 per call)', ...cases, b.cycle(), b.complete());
