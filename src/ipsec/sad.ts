// Security Association Database (RFC 4301 §4.4.2): inbound SAs keyed by SPI, outbound SAs
// referenced from SPD entries. Each SA holds its transform and keys (zeroed by remove()),
// mode, outer addresses and path, selectors, replay window or send counter, and traffic counters.
// No clock: every call that needs the time takes `now` (milliseconds, caller's clock).

import type { TrafficSelector } from '../wire/types.js';
import type { InPlaceAeadFactory } from '../crypto/aead.js';
import { createEspTransform, type EspCipherSpec, type EspTransform } from './esp-transform.js';
import { ReplayWindow } from './replay.js';
import { OutboundPlan } from './outbound-plan.js';
import { InboundPlan } from './inbound-plan.js';
import { newDatapathCounters, newTrafficCounters, type DatapathCounters, type TrafficCounters } from './counters.js';
import { spiHex } from '../wire/spi.js';

export type EspMode = 'tunnel' | 'transport';

/**
 * How an SA's ESP travels between the two outer addresses: in UDP to `port` (RFC 3948,
 * `encap`), or as raw ESP, IP protocol 50 (RFC 4303). The caller that sends it reads it.
 */
export interface OuterPath {
  /** The peer's outer address, as text. */
  readonly addr: string;
  /** The peer's UDP port when encapsulated (4500, or its NAT mapping: RFC 3948 §2.1). */
  readonly port: number;
  readonly encap: boolean;
}

export interface SaSpec {
  /** SPI as an unsigned 32-bit number (RFC 4303 §2.1); 0 is reserved. */
  spi: number;
  mode: EspMode;
  cipher: EspCipherSpec;
  /** RFC 4303 §2.2.1 Extended Sequence Numbers negotiated (ESN transform = 1). */
  esn?: boolean;
  /** Outer addresses, for the caller that builds the outer IP/UDP header. */
  localAddress: Uint8Array;
  remoteAddress: Uint8Array;
  /** Where its ESP goes (outbound) or comes from (inbound); absent: nowhere to send it. */
  outer?: OuterPath;
  /** Traffic selectors of this Child SA: local side and remote side (TSi/TSr as agreed). */
  localSelectors: TrafficSelector[];
  remoteSelectors: TrafficSelector[];
  /** Inbound only: replay window size in packets (default 1024) and bitmap block size. */
  replayWindow?: number;
  replayBlockBits?: 32 | 64;
  /** Outbound only: the first sequence number to send (default 1, RFC 4303 §3.3.3). */
  firstSeq?: bigint | number;
  /**
   * Outbound only: raise 'seq-soft-limit' once the counter reaches this value, so the IKE
   * side can rekey before exhaustion. Default: 2^32 - 2^24 without ESN, 2^64 - 2^32 with.
   */
  seqSoftLimit?: bigint;
}

export type SaEvent =
  | { type: 'seq-soft-limit'; spi: number }
  /** RFC 4303 §3.3.3: the counter reached its maximum; the SA no longer sends. Rekey now. */
  | { type: 'seq-exhausted'; spi: number };

export class SaConfigError extends Error {
  override name = 'SaConfigError';
}

export class EspSa {
  readonly direction: 'in' | 'out';
  readonly spi: number;
  readonly mode: EspMode;
  readonly esn: boolean;
  readonly localAddress: Uint8Array;
  readonly remoteAddress: Uint8Array;
  readonly localSelectors: TrafficSelector[];
  readonly remoteSelectors: TrafficSelector[];
  /**
   * The outer path; replaced (never edited in place) when the caller learns a better one, e.g.
   * the peer's authenticated ESP arrived in UDP (RFC 3948) on an SA set up for raw ESP.
   */
  outer: OuterPath | undefined;
  readonly transform: EspTransform;
  /** Inbound SAs only. */
  readonly replay: ReplayWindow | null;
  readonly counters: TrafficCounters = newTrafficCounters();
  readonly addedAt: number;
  lastUsed: number;
  removed = false;
  // Outbound: the last sequence number sent, as two unsigned 32-bit halves.
  private seqHigh = 0;
  private seqLow = 0;
  private readonly softHigh: number;
  private readonly softLow: number;
  private softRaised = false;
  private exhaustedRaised = false;

  /** `inPlaceAead`: what AEAD specs seal and open with in place (Sad's option). */
  constructor(direction: 'in' | 'out', spec: SaSpec, now: number, inPlaceAead?: InPlaceAeadFactory) {
    if (!Number.isInteger(spec.spi) || spec.spi <= 0 || spec.spi > 0xffff_ffff) {
      throw new SaConfigError(`SPI must be 1..2^32-1, got ${spec.spi}`); // RFC 4303 §2.1
    }
    this.direction = direction;
    this.spi = spec.spi;
    this.mode = spec.mode;
    this.esn = spec.esn ?? false;
    this.localAddress = spec.localAddress;
    this.remoteAddress = spec.remoteAddress;
    this.localSelectors = spec.localSelectors;
    this.remoteSelectors = spec.remoteSelectors;
    this.outer = spec.outer;
    this.replay =
      direction === 'in'
        ? new ReplayWindow({ size: spec.replayWindow, blockBits: spec.replayBlockBits, esn: this.esn })
        : null;
    const max = this.esn ? (1n << 64n) - 1n : (1n << 32n) - 1n;
    const first = BigInt(spec.firstSeq ?? 1);
    if (first < 1n || first > max) throw new SaConfigError(`first sequence number out of range`);
    const last = first - 1n;
    this.seqHigh = Number(last >> 32n);
    this.seqLow = Number(last & 0xffff_ffffn);
    const soft = spec.seqSoftLimit ?? (this.esn ? max - 0xffff_ffffn : max - 0xff_ffffn);
    this.softHigh = Number(soft >> 32n);
    this.softLow = Number(soft & 0xffff_ffffn);
    this.transform = createEspTransform(spec.cipher, inPlaceAead); // last: it copies the keys
    this.addedAt = now;
    this.lastUsed = now;
  }

  /** The last sequence number sent (outbound) or the highest received (inbound). */
  get sequence(): bigint {
    if (this.replay) {
      const [h, l] = this.replay.highest();
      return (BigInt(h) << 32n) | BigInt(l);
    }
    return (BigInt(this.seqHigh) << 32n) | BigInt(this.seqLow);
  }

  /**
   * Outbound: take the next sequence number. Returns false (and counts nothing) when it
   * would wrap (RFC 4303 §3.3.3: "the sender ... MUST NOT allow it to cycle"); pushes the
   * soft-limit / exhausted events once each into `events`.
   */
  nextSeq(events: SaEvent[]): boolean {
    const maxHigh = this.esn ? 0xffff_ffff : 0;
    if (this.seqLow === 0xffff_ffff && this.seqHigh === maxHigh) {
      if (!this.exhaustedRaised) {
        this.exhaustedRaised = true;
        events.push({ type: 'seq-exhausted', spi: this.spi });
      }
      return false;
    }
    if (this.seqLow === 0xffff_ffff) {
      this.seqHigh += 1;
      this.seqLow = 0;
    } else {
      this.seqLow += 1;
    }
    if (!this.softRaised && (this.seqHigh > this.softHigh || (this.seqHigh === this.softHigh && this.seqLow >= this.softLow))) {
      this.softRaised = true;
      events.push({ type: 'seq-soft-limit', spi: this.spi });
    }
    return true;
  }

  /** High and low halves of the sequence number taken by the last nextSeq(). */
  get seqHi(): number {
    return this.seqHigh;
  }
  get seqLo(): number {
    return this.seqLow;
  }

  /** Packets and bytes for lifetime checks (RFC 7296 §2.8 soft/hard byte and packet limits). */
  usage(): { packets: number; bytes: number; addedAt: number; lastUsed: number } {
    return { packets: this.counters.passed, bytes: this.counters.bytes, addedAt: this.addedAt, lastUsed: this.lastUsed };
  }

  /** Zero the keys; the SA can no longer seal or open. */
  dispose(): void {
    this.removed = true;
    this.transform.dispose();
  }
}

export interface SadOptions {
  /**
   * The in-place AEAD that AEAD SAs seal and open with unless their spec names another
   * backend: the native addon's (src/io/native-aead.ts), passed in by the daemon at startup.
   * Without it they use node:crypto.
   */
  inPlaceAead?: InPlaceAeadFactory;
}

export class Sad {
  private readonly inboundBySpi = new Map<number, EspSa>();
  private readonly outboundSas = new Set<EspSa>();
  /** The global counter table (both directions), beside the per-SA ones. */
  readonly counters: DatapathCounters = newDatapathCounters();
  readonly inPlaceAead: InPlaceAeadFactory | undefined;
  /** processOutbound's scratch for this SAD's batches (no allocation per batch). */
  readonly outboundPlan = new OutboundPlan();
  /** processInbound's scratch (src/ipsec/inbound-plan.ts). */
  readonly inboundPlan = new InboundPlan<EspSa>();

  constructor(opts: SadOptions = {}) {
    this.inPlaceAead = opts.inPlaceAead;
  }

  addInbound(spec: SaSpec, now: number): EspSa {
    if (this.inboundBySpi.has(spec.spi >>> 0)) throw new SaConfigError(`inbound SPI 0x${spiHex(spec.spi)} already in use`);
    const sa = new EspSa('in', spec, now, this.inPlaceAead);
    this.inboundBySpi.set(sa.spi, sa);
    return sa;
  }

  addOutbound(spec: SaSpec, now: number): EspSa {
    const sa = new EspSa('out', spec, now, this.inPlaceAead);
    this.outboundSas.add(sa);
    return sa;
  }

  inbound(spi: number): EspSa | undefined {
    return this.inboundBySpi.get(spi);
  }

  /** Remove an SA and zero its keys. Packets that still reach it count as 'unknown-spi' / 'no-sa'. */
  remove(sa: EspSa): void {
    if (sa.direction === 'in' && this.inboundBySpi.get(sa.spi) === sa) this.inboundBySpi.delete(sa.spi);
    this.outboundSas.delete(sa);
    sa.dispose();
  }

  /** Every SA, inbound first. */
  list(): EspSa[] {
    return [...this.inboundBySpi.values(), ...this.outboundSas];
  }

  /** Remove everything (shutdown), zeroing all keys. */
  clear(): void {
    for (const sa of this.list()) this.remove(sa);
  }
}
