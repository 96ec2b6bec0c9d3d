// Inbound ESP processing (RFC 4303 §3.4, RFC 4301 §5.2) for a batch of ESP packets (UDP
// payloads with the non-ESP marker already removed by the caller, RFC 3948 §2.2).
//
// Order of checks, each drop counted under its reason in the SA (when known) and globally:
//   SPI lookup (§3.4.2)        -> 'unknown-spi'
//   lengths                    -> 'malformed'
//   replay pre-check (§3.4.3)  -> 'replay'       (no state change)
//   ICV / AEAD tag (§3.4.4)    -> 'integrity'    (window untouched)
//   padding (§2.4)             -> 'bad-padding'
//   replay commit (§3.4.3)     -> 'replay'       (a copy earlier in the same batch)
//   high half re-inferred (A2.2) -> 'integrity'  (ESN: the batch moved the window past it)
//   dummy packet (§2.6)        -> 'dummy'
//   inner packet, tunnel mode  -> 'bad-next-header' / 'malformed-inner'
//   selectors (RFC 4301 §5.2 step 4) -> 'selector-mismatch'
// Three passes, so the AEAD opens each run of one SA's packets with one call (the native
// backend's batch call; others one packet at a time): 1 the checks before decryption, 2 the
// opening, 3 in packet order the rest. The counters and drops are those of one packet at a
// time: pass 3 repeats the replay check (a number committed earlier in the batch), and a
// packet repeating an earlier one's number is opened only in pass 3, after that one.
// Nothing here throws on packet contents.

import { readEspTrailer, ESP_HEADER_LENGTH, ESP_NEXT_HEADER_DUMMY } from '../wire/esp.js';
import { decodeIpPacket, type IpPacketView } from '../wire/ip.js';
import { DropReason } from './counters.js';
import { NEXT_HEADER_IPV4, NEXT_HEADER_IPV6 } from './outbound.js';
import type { EspSa, Sad } from './sad.js';
import { packetMatches } from './spd.js';

export interface InboundDrop {
  /** Index of the ESP packet in the input batch. */
  index: number;
  reason: DropReason;
  /** The SPI read from the packet (0 when it was too short to hold one). */
  spi: number;
}

export interface InboundBatch {
  /** Tunnel mode: the inner IP packets. Transport mode: the upper-layer payloads. */
  packets: Uint8Array[];
  /** For each delivered packet: the SA that received it. */
  sa: EspSa[];
  /** For each delivered packet: the ESP Next Header (4 / 41 in tunnel mode, else the protocol). */
  nextHeader: number[];
  drops: InboundDrop[];
}

/**
 * Decapsulate a batch of ESP packets. Never throws on packet contents. `hold`, when given, may
 * keep a packet with an unknown SPI (returning true) instead of dropping it: it is then not
 * counted here, but when it is processed again (src/ipsec/spi-hold.ts).
 */
export function processInbound(sad: Sad, packets: readonly Uint8Array[], now: number, hold?: (pkt: Uint8Array, spi: number) => boolean): InboundBatch {
  const global = sad.counters.inbound;
  const out: InboundBatch = { packets: [], sa: [], nextHeader: [], drops: [] };
  let sorted = true; // drops are pushed per pass: put back in packet order at the end when not

  const drop = (index: number, reason: DropReason, spi: number, sa?: EspSa): void => {
    global.drops[reason]++;
    if (sa) sa.counters.drops[reason]++;
    const n = out.drops.length;
    if (n > 0 && out.drops[n - 1].index > index) sorted = false;
    out.drops.push({ index, reason, spi });
  };

  // Pass 1: SA, length and replay pre-check per packet; what passes is planned for opening.
  const plan = sad.inboundPlan.reserve(packets.length);
  const { planIndex, offset, length, seqLow: planSeqLow, seqHigh: planSeqHigh, ok, deferred } = plan;
  let planned = 0;
  let lastSa: EspSa | undefined;
  let lastHigh = 0;
  let lastLow = 0;
  for (let i = 0; i < packets.length; i++) {
    const pkt = packets[i];
    global.packets++;
    if (pkt.length < ESP_HEADER_LENGTH) {
      drop(i, DropReason.MALFORMED, 0);
      continue;
    }
    const spi = readU32(pkt, 0);
    const seqLow = readU32(pkt, 4);
    // RFC 4303 §3.4.2: the SA is found by SPI (we are the destination; SPIs are unique here)
    const sa = sad.inbound(spi);
    if (!sa || sa.removed || !sa.replay) {
      if (hold?.(pkt, spi)) {
        global.packets--; // counted when it comes back
        continue;
      }
      drop(i, DropReason.UNKNOWN_SPI, spi);
      continue;
    }
    sa.counters.packets++;
    if (!sa.transform.lengthOk(pkt.length)) {
      drop(i, DropReason.MALFORMED, spi, sa);
      continue;
    }
    // RFC 4303 §3.4.3: reject duplicates before spending a decryption on them. With ESN the
    // verdict depends on the window (Appendix A2.2: a number far behind its top is taken for the
    // next 2^32 and checked), which earlier packets of this batch may still move: decided in pass 3.
    const seqHigh = sa.replay.check(seqLow);
    if (seqHigh < 0 && !sa.esn) {
      drop(i, DropReason.REPLAY, spi, sa);
      continue;
    }
    planIndex[planned] = i;
    offset[planned] = pkt.byteOffset;
    length[planned] = pkt.length;
    planSeqLow[planned] = seqLow;
    planSeqHigh[planned] = seqHigh;
    plan.sa.push(sa);
    plan.buf.push(plan.wholeOf(pkt));
    // A number not above the last one of its SA here may repeat one: that copy is opened, if
    // at all, only after the one before it (pass 3), as one packet at a time would have it.
    const ahead = sa === lastSa && (seqHigh > lastHigh || (seqHigh === lastHigh && seqLow > lastLow));
    deferred[planned] = seqHigh >= 0 && (ahead || !plan.repeats(planned)) ? 0 : 1;
    if (deferred[planned] === 0) {
      lastSa = sa;
      lastHigh = seqHigh;
      lastLow = seqLow;
    }
    planned++;
  }

  // Pass 2, RFC 4303 §3.4.4: open each run of one SA's packets in one buffer with one call.
  for (let from = 0; from < planned; ) {
    if (deferred[from] === 1) {
      from++;
      continue;
    }
    const sa = plan.sa[from];
    const buf = plan.buf[from];
    let to = from + 1;
    while (to < planned && plan.sa[to] === sa && plan.buf[to] === buf && deferred[to] === 0) to++;
    sa.transform.openRun(buf, offset, length, planSeqHigh, from, to, sa.esn, ok);
    from = to;
  }

  // Pass 3, in packet order: the checks after the ICV, the replay window, delivery.
  for (let k = 0; k < planned; k++) {
    const i = planIndex[k];
    const sa = plan.sa[k];
    const replay = sa.replay!;
    const spi = sa.spi;
    const seqLow = planSeqLow[k];
    let seqHigh = planSeqHigh[k];
    // RFC 4303 §3.4.3: a number committed earlier in this batch is a replay, found as it would
    // have been before its decryption had the batch been opened one packet at a time
    const again = replay.check(seqLow);
    if (again < 0) {
      drop(i, DropReason.REPLAY, spi, sa);
      continue;
    }
    // RFC 4303 Appendix A2.2: the high half is inferred from the window as it is now. When this
    // batch moved the window so far that it changed (an ESN packet more than W behind the new
    // top), one packet at a time would have checked the ICV under the new value, under which a
    // packet sealed under the other does not verify: so it fails here as it would have there.
    if (deferred[k] === 0 && again !== seqHigh) {
      drop(i, DropReason.INTEGRITY, spi, sa);
      continue;
    }
    if (deferred[k] === 1) {
      seqHigh = planSeqHigh[k] = again;
      sa.transform.openRun(plan.buf[k], offset, length, planSeqHigh, k, k + 1, sa.esn, ok);
    }
    if (ok[k] === 0) {
      drop(i, DropReason.INTEGRITY, spi, sa);
      continue;
    }
    const t = sa.transform;
    const ct = offset[k] + ESP_HEADER_LENGTH + t.ivLength;
    const plain = plan.buf[k].subarray(ct, offset[k] + length[k] - t.icvLength);
    let payloadLength: number;
    let nextHeader: number;
    try {
      ({ payloadLength, nextHeader } = readEspTrailer(plain)); // RFC 4303 §2.4
    } catch {
      drop(i, DropReason.BAD_PADDING, spi, sa);
      continue;
    }
    // RFC 4303 §3.4.3: only now, with the ICV verified, does the window move
    if (!replay.commit(seqLow, seqHigh)) {
      drop(i, DropReason.REPLAY, spi, sa);
      continue;
    }
    sa.lastUsed = now;
    // RFC 4303 §2.6: Next Header 59 is a dummy packet: discard it silently (but count it)
    if (nextHeader === ESP_NEXT_HEADER_DUMMY) {
      drop(i, DropReason.DUMMY, spi, sa);
      continue;
    }
    let payload = plain.subarray(0, payloadLength);
    if (sa.mode === 'tunnel') {
      if (nextHeader !== NEXT_HEADER_IPV4 && nextHeader !== NEXT_HEADER_IPV6) {
        drop(i, DropReason.BAD_NEXT_HEADER, spi, sa);
        continue;
      }
      let view: IpPacketView;
      try {
        view = decodeIpPacket(payload);
      } catch {
        drop(i, DropReason.MALFORMED_INNER, spi, sa);
        continue;
      }
      if ((view.version === 4) !== (nextHeader === NEXT_HEADER_IPV4)) {
        drop(i, DropReason.MALFORMED_INNER, spi, sa);
        continue;
      }
      // RFC 4301 §5.2 step 4: the inner packet must fit the SA's selectors
      // (source among the remote ones, destination among the local ones).
      if (!packetMatches(view, sa.remoteSelectors, sa.localSelectors)) {
        drop(i, DropReason.SELECTOR_MISMATCH, spi, sa);
        continue;
      }
      // RFC 4303 §2.7: TFC padding may follow the inner packet inside the payload
      if (view.totalLength !== payload.length) payload = payload.subarray(0, view.totalLength);
    }
    out.packets.push(payload);
    out.sa.push(sa);
    out.nextHeader.push(nextHeader);
    sa.counters.passed++;
    sa.counters.bytes += payload.length;
    global.passed++;
    global.bytes += payload.length;
  }
  plan.clear();
  if (!sorted) out.drops.sort((a, b) => a.index - b.index);
  return out;
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}
