// Datapath counters: every packet that enters a batch ends either delivered/sent or counted
// under exactly one drop reason, per SA and in one global table, so that `tsvpn status`
// can answer failure-map row F5 ("SAs up but no data": SA counters flat, SPD misses, inner
// drops by reason) with numbers.

/** Why a packet was dropped. Values are stable strings shown in status output and logs. */
export const DropReason = {
  // inbound (RFC 4303 §3.4 processing order)
  /** RFC 4303 §3.4.2: no SA for this SPI (or SPI 0). */
  UNKNOWN_SPI: 'unknown-spi',
  /** Shorter than header + IV + trailer + ICV, or ciphertext not a whole number of blocks. */
  MALFORMED: 'malformed',
  /** RFC 4303 §3.4.3: duplicate, or left of the receive window. */
  REPLAY: 'replay',
  /** RFC 4303 §3.4.4: ICV (or AEAD tag) did not verify. */
  INTEGRITY: 'integrity',
  /** RFC 4303 §2.4: Pad Length beyond the payload or padding bytes not 1, 2, 3, ... */
  BAD_PADDING: 'bad-padding',
  /** RFC 4303 §2.6: Next Header 59, a dummy (traffic flow confidentiality) packet. */
  DUMMY: 'dummy',
  /** Tunnel mode: Next Header is neither 4 (IPv4) nor 41 (IPv6). */
  BAD_NEXT_HEADER: 'bad-next-header',
  /** The decrypted inner packet is not a valid IP packet. */
  MALFORMED_INNER: 'malformed-inner',
  /** RFC 4301 §5.2 step 4: inner addresses/ports are not within the SA's selectors. */
  SELECTOR_MISMATCH: 'selector-mismatch',
  // outbound
  /** The inner packet from the TUN is not a valid IP packet. */
  MALFORMED_OUTBOUND: 'malformed-outbound',
  /** RFC 4301 §5.1: no SPD entry matched the packet. */
  NO_POLICY: 'no-policy',
  /** RFC 4301 §5.1: the matching SPD entry says DISCARD. */
  POLICY_DISCARD: 'policy-discard',
  /** The matching PROTECT entry has no SA installed (yet, or no more). */
  NO_SA: 'no-sa',
  /** RFC 4303 §3.3.3: the sequence number would wrap; the SA must not send. */
  SEQ_EXHAUSTED: 'seq-exhausted',
  /** The inner packet plus ESP overhead does not fit in 65535 bytes. */
  TOO_BIG: 'too-big',
} as const;

export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export const ALL_DROP_REASONS: readonly DropReason[] = Object.values(DropReason);

export type DropCounts = Record<DropReason, number>;

export function newDropCounts(): DropCounts {
  const d = {} as DropCounts;
  for (const r of ALL_DROP_REASONS) d[r] = 0;
  return d;
}

/** Traffic counters of one direction of an SA, or of the whole datapath. */
export interface TrafficCounters {
  /** Packets handed to this stage (inbound: ESP packets; outbound: inner packets). */
  packets: number;
  /** Packets that came out (inbound: delivered inner packets; outbound: ESP packets). */
  passed: number;
  /** Bytes of the inner packets (tunnel mode) or upper-layer payloads (transport mode) that passed, both directions alike. */
  bytes: number;
  drops: DropCounts;
}

export function newTrafficCounters(): TrafficCounters {
  return { packets: 0, passed: 0, bytes: 0, drops: newDropCounts() };
}

/** Global table: one per datapath (owned by the SAD). */
export interface DatapathCounters {
  inbound: TrafficCounters;
  outbound: TrafficCounters;
  /** Outbound inner packets sent in the clear by a BYPASS entry. */
  bypassed: number;
}

export function newDatapathCounters(): DatapathCounters {
  return { inbound: newTrafficCounters(), outbound: newTrafficCounters(), bypassed: 0 };
}

/** Sum of all drop reasons. */
export function totalDrops(d: DropCounts): number {
  let n = 0;
  for (const r of ALL_DROP_REASONS) n += d[r];
  return n;
}

/** One outbound packet no SPD entry matched, as the ring hands it out. */
export interface SpdMiss {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  /** When it was dropped (ms, the datapath's clock). */
  at: number;
}

const MISS_SLOTS = 8;

/**
 * The last few outbound packets dropped as `no-policy` (RFC 4301 §5.1: no SPD entry matched),
 * their addresses and protocol, for failure map F5's evidence. A fixed ring: recording copies
 * into preallocated arrays and allocates nothing; only list() does.
 */
export class SpdMissRing {
  private readonly addrs = new Uint8Array(MISS_SLOTS * 32);
  private readonly family = new Uint8Array(MISS_SLOTS);
  private readonly protocol = new Uint8Array(MISS_SLOTS);
  private readonly at = new Float64Array(MISS_SLOTS);
  private next = 0;
  private size = 0;

  /** Note a dropped inner packet (already decoded once, so its header is whole). */
  record(p: Uint8Array, now: number): void {
    const v6 = p[0] >> 4 === 6;
    const len = v6 ? 16 : 4;
    const s = v6 ? 8 : 12; // RFC 8200 §3 / RFC 791 §3.1: source address offset; the destination follows it
    const slot = this.next;
    this.addrs.set(p.subarray(s, s + 2 * len), slot * 32);
    this.family[slot] = len;
    this.protocol[slot] = v6 ? p[6] : p[9];
    this.at[slot] = now;
    this.next = (slot + 1) % MISS_SLOTS;
    if (this.size < MISS_SLOTS) this.size++;
  }

  /** The misses held, oldest first. */
  list(): SpdMiss[] {
    const out: SpdMiss[] = [];
    for (let k = 0; k < this.size; k++) {
      const slot = (this.next - this.size + k + MISS_SLOTS) % MISS_SLOTS;
      const len = this.family[slot];
      const base = slot * 32;
      out.push({ src: this.addrs.slice(base, base + len), dst: this.addrs.slice(base + len, base + 2 * len), protocol: this.protocol[slot], at: this.at[slot] });
    }
    return out;
  }
}
