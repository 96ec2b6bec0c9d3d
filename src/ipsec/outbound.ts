// Outbound ESP processing (RFC 4301 §5.1, RFC 4303 §3.3) for a batch of inner IP packets
// read from the TUN device: SPD lookup, then ESP encapsulation into one output slab.
//
// Pass 1 decides each packet's fate (policy, SA, sequence number, sizes) without copying;
// pass 2 writes every ESP packet into the SAD's reused slab (src/ipsec/outbound-plan.ts),
// the buffer the caller sends from, so a batch allocates no packet memory and zero-fills
// nothing; the only per-packet allocations are those the node/noble AEAD backends make (the
// native one seals in place: none). The caller adds the outer
// UDP/IP header (tunnel mode: from the SA's outer addresses; transport mode: rebuilt from the
// inner packet's own header, which is not inside the ESP packet).

import { decodeIpPacket, type IpPacketView } from '../wire/ip.js';
import { ESP_HEADER_LENGTH, espPadLength, writeEspTrailer } from '../wire/esp.js';
import { DropReason } from './counters.js';
import type { OutboundPlan } from './outbound-plan.js';
import type { EspSa, Sad, SaEvent } from './sad.js';
import type { Spd } from './spd.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH, UDP_HEADER_LENGTH } from '../wire/constants.js';

/** RFC 4303 §2.6 / IANA protocol numbers: Next Header for tunnel mode. */
export const NEXT_HEADER_IPV4 = 4;
export const NEXT_HEADER_IPV6 = 41;

const IP_MAX_LENGTH = 65535;

export interface OutboundDrop {
  /** Index of the inner packet in the input batch. */
  index: number;
  reason: DropReason;
}

export interface OutboundBatch {
  /** ESP packets sealed: espOffset/espLength/sa/source hold this many. */
  count: number;
  /**
   * Where ESP packet k (header through ICV) lies in the SAD's reused slab
   * (sad.outboundPlan.slab), and its length: the SAD's scratch, valid until the next
   * processOutbound with that SAD. What a caller sends from, with no view per packet.
   */
  espOffset: Uint32Array;
  espLength: Uint32Array;
  /** The same packets as views into the slab (made when first read: for callers that want arrays). */
  readonly esp: Uint8Array[];
  /** For each ESP packet: the SA it was sealed with (outer addresses, NAT-T state). */
  sa: EspSa[];
  /** For each ESP packet: the index of its inner packet in the input (transport mode needs its header). */
  source: number[];
  /** Inner packets a BYPASS policy lets through in the clear (the input views, not copies). */
  bypass: Uint8Array[];
  drops: OutboundDrop[];
  /** SA events raised by this batch (sequence-number soft limit / exhaustion: rekey). */
  events: SaEvent[];
}

/** Encapsulate a batch of inner packets. Never throws on packet contents. */
export function processOutbound(spd: Spd, sad: Sad, packets: readonly Uint8Array[], now: number): OutboundBatch {
  const global = sad.counters.outbound;
  const n = packets.length;
  // Pass 1 plan, one slot per packet that will be sealed (the SAD's scratch, reused across batches).
  const plan = sad.outboundPlan.reserve(n);
  const { planIndex, payloadStart, payloadEnd, nextHeader, padLength, espLength, seqHigh, seqLow } = plan;
  const out = newBatch(plan);
  const planSa: EspSa[] = [];
  let planned = 0;
  let total = 0;

  const drop = (index: number, reason: DropReason, sa?: EspSa): void => {
    global.drops[reason]++;
    if (sa) sa.counters.drops[reason]++;
    out.drops.push({ index, reason });
  };

  for (let i = 0; i < n; i++) {
    const pkt = packets[i];
    global.packets++;
    let view: IpPacketView;
    try {
      view = decodeIpPacket(pkt);
    } catch {
      drop(i, DropReason.MALFORMED_OUTBOUND);
      continue;
    }
    // RFC 4301 §5.1 step 1: the first matching SPD entry decides
    const entry = spd.lookup(view);
    if (!entry) {
      drop(i, DropReason.NO_POLICY);
      continue;
    }
    if (entry.action === 'discard') {
      drop(i, DropReason.POLICY_DISCARD);
      continue;
    }
    if (entry.action === 'bypass') {
      sad.counters.bypassed++;
      out.bypass.push(pkt.subarray(0, view.totalLength));
      continue;
    }
    const sa = entry.sa;
    if (!sa || sa.removed) {
      drop(i, DropReason.NO_SA);
      continue;
    }
    sa.counters.packets++;
    sa.lastUsed = now;
    // RFC 4303 §3.1.2 tunnel mode: the whole inner packet is the payload, Next Header 4 / 41.
    // RFC 4303 §3.1.1 transport mode: the upper-layer part only; Next Header is its protocol.
    const tunnel = sa.mode === 'tunnel';
    const start = tunnel ? 0 : view.headerLength;
    const end = view.totalLength;
    const t = sa.transform;
    const pad = espPadLength(end - start, t.blockSize); // RFC 4303 §2.4
    const len = ESP_HEADER_LENGTH + t.ivLength + (end - start) + pad + 2 + t.icvLength;
    const outerOverhead = (sa.remoteAddress.length === 16 ? IPV6_HEADER_LENGTH : IPV4_HEADER_LENGTH) + UDP_HEADER_LENGTH;
    if (len + outerOverhead > IP_MAX_LENGTH) {
      drop(i, DropReason.TOO_BIG, sa);
      continue;
    }
    // RFC 4303 §3.3.3: take the next sequence number, refusing to wrap
    if (!sa.nextSeq(out.events)) {
      drop(i, DropReason.SEQ_EXHAUSTED, sa);
      continue;
    }
    planSa.push(sa);
    planIndex[planned] = i;
    payloadStart[planned] = start;
    payloadEnd[planned] = end;
    nextHeader[planned] = tunnel ? (view.version === 4 ? NEXT_HEADER_IPV4 : NEXT_HEADER_IPV6) : view.protocol;
    padLength[planned] = pad;
    espLength[planned] = len;
    seqHigh[planned] = sa.seqHi;
    seqLow[planned] = sa.seqLo;
    planned++;
    total += len;
  }

  // Pass 2: into the SAD's slab, reused (no allocation, no zero-fill per batch): headers,
  // payloads and trailers first, then each run of packets of one SA sealed with one call.
  const slab = sad.outboundPlan.slabFor(total);
  const { espOffset, ptLength } = sad.outboundPlan;
  let off = 0;
  for (let k = 0; k < planned; k++) {
    const sa = planSa[k];
    const src = packets[planIndex[k]];
    // RFC 4303 §2.1: SPI, then the low 32 bits of the sequence number
    writeU32(slab, off, sa.spi);
    writeU32(slab, off + 4, seqLow[k]);
    const pt = off + ESP_HEADER_LENGTH + sa.transform.ivLength;
    slab.set(src.subarray(payloadStart[k], payloadEnd[k]), pt);
    espOffset[k] = off;
    ptLength[k] = writeEspTrailer(slab, pt + payloadEnd[k] - payloadStart[k], padLength[k], nextHeader[k]) - pt;
    off += espLength[k];
  }
  for (let from = 0; from < planned; ) {
    const sa = planSa[from];
    let to = from + 1;
    while (to < planned && planSa[to] === sa) to++;
    sa.transform.sealRun(slab, espOffset, ptLength, seqHigh, seqLow, from, to, sa.esn);
    from = to;
  }
  out.count = planned;
  for (let k = 0; k < planned; k++) {
    const sa = planSa[k];
    out.sa.push(sa);
    out.source.push(planIndex[k]);
    // bytes count the inner packet, as inbound does, so both ends of an SA agree
    const inner = payloadEnd[k] - payloadStart[k];
    sa.counters.passed++;
    sa.counters.bytes += inner;
    global.passed++;
    global.bytes += inner;
  }
  return out;
}

/** An empty batch over the plan's arrays; `esp` made from them when first read. */
function newBatch(plan: OutboundPlan): OutboundBatch {
  let views: Uint8Array[] | undefined;
  return {
    count: 0,
    espOffset: plan.espOffset,
    espLength: plan.espLength,
    get esp(): Uint8Array[] {
      if (!views) {
        views = [];
        for (let k = 0; k < this.count; k++) views.push(plan.slab.subarray(this.espOffset[k], this.espOffset[k] + this.espLength[k]));
      }
      return views;
    },
    sa: [],
    source: [],
    bypass: [],
    drops: [],
    events: [],
  };
}

function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}
