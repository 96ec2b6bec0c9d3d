// The packet path between the TUN device and the wire, a batch at a time (DESIGN.md
// "Narrow batch interfaces"): TUN batch -> processOutbound -> one sendmmsg per outer
// destination, straight from the SAD's reused slab processOutbound sealed into; ESP batch ->
// processInbound -> one TUN write, straight from the receive slab the native AEAD opened the
// packets in (a copy into a reused slab only when another backend returned new bytes). No
// per-packet system call, closure or buffer allocation here, and no per-batch zero-fill (the
// batch's views are valid until this synchronous call returns).
// It does not call back into the control plane (DESIGN.md): each batch returns what it
// observed, for the daemon to act on, and the one setting the control plane gives it
// (holdUnknownSpis) is a field the daemon sets.
import { processInbound } from '../ipsec/inbound.js';
import { SpiHold } from '../ipsec/spi-hold.js';
import { processOutbound, type OutboundBatch } from '../ipsec/outbound.js';
import { DropReason, SpdMissRing } from '../ipsec/counters.js';
import type { EspSa, Sad, SaEvent } from '../ipsec/sad.js';
import type { Spd } from '../ipsec/spd.js';
import type { Endpoint } from '../ike/config.js';
import type { Logger } from './log.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH, UDP_HEADER_LENGTH } from '../wire/constants.js';
import { spiHex } from '../wire/spi.js';
import { writeIpHeader } from '../wire/ip.js';
import { bytesToIp } from '../wire/ip-text.js';
import { effectiveMtu } from './path-mtu.js';

export interface BatchWriter {
  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
}

export interface DatapathStats {
  /** Outbound inner packets larger than the tunnel MTU, answered with ICMP (F7). */
  icmpTooBig: number;
  /** Inner packets written to the TUN that the kernel refused. */
  tunWriteErrors: number;
  /** ESP packets the kernel refused to send. */
  sendErrors: number;
  /** Outbound ESP packets for an SA with no outer path (a bug if ever non-zero). */
  noDest: number;
  /** TCP SYNs whose MSS option was lowered. */
  mssClamped: number;
  /** Batches that threw: counted and dropped, the daemon keeps running. */
  internalErrors: number;
  /**
   * IPv6 packets from a link-local source (fe80::/10), such as the router solicitation the
   * kernel sends when the TUN comes up: they never leave their link (RFC 4291 §2.5.6), so they
   * are not tunnelled, and counted apart from no-policy.
   */
  linkLocal: number;
}

export interface DatapathOptions {
  sad: Sad;
  spd: Spd;
  tun: BatchWriter;
  sendUdp(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, to: Endpoint): number;
  /** Raw ESP (RFC 4303 over IP); absent when every SA is UDP-encapsulated. */
  sendRaw?(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, addr: string): number;
  now: () => number;
  /** Largest inner packet that fits (the TUN MTU); a peer's learnt path MTU lowers it for that peer's SAs (setPathMtu). */
  innerMtu: number;
  /** C2 tooBigReply: the ICMP answer to an inner packet over `mtu`, or undefined. */
  tooBig?: (inner: Uint8Array, mtu: number) => Uint8Array | undefined;
  /** C2 clampMss, when peer.json asks for MSS clamping. */
  clampMss?: (packet: Uint8Array, mss: number) => boolean;
  log: Logger;
}

/** What one inbound batch (or the release of held ESP) observed; valid until the next call. */
export interface InboundSeen {
  /** The SAs that delivered authenticated ESP, each once, in order of arrival. */
  readonly saSeen: readonly EspSa[];
  /** ESP packets for an unknown SPI that were held (holdUnknownSpis) instead of dropped. */
  readonly held: number;
  /** Of saSeen, the SAs set up for raw ESP whose authenticated ESP arrived in UDP (RFC 3948). */
  readonly encapLearnt: readonly EspSa[];
  /** Of saSeen, SAs in UDP whose authenticated ESP came from another address or port than their outer path (F8: a new NAT mapping). */
  readonly moved: readonly { sa: EspSa; from: Endpoint }[];
  /** A UDP batch from this source in which nothing authenticated (a hint only, F8), else undefined. */
  readonly unauthenticatedFrom: Endpoint | undefined;
}

/** The batch view the TUN reader hands over. */
export interface InnerBatch {
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly count: number;
}

const LARGE_OUTER = 1280; // RFC 8200 §5: every IPv6 link carries 1280 octets
const IPV4_TCP_HEADERS = 40; // RFC 879: MSS = MTU - 20 (IPv4) - 20 (TCP)
const IPV6_TCP_HEADERS = 60; // RFC 8200 §5: 40-byte IPv6 header + 20 TCP

export class Datapath {
  readonly stats: DatapathStats = { icmpTooBig: 0, tunWriteErrors: 0, sendErrors: 0, noDest: 0, mssClamped: 0, internalErrors: 0, linkLocal: 0 };
  /** The last outbound packets no SPD entry matched (F5 evidence, src/daemon/traffic-check.ts). */
  readonly spdMisses = new SpdMissRing();
  /** When the last authenticated ESP packet arrived (DPD reads it). */
  lastInbound = 0;
  /**
   * ESP packets sent whose outer packet is over 1280 octets (RFC 8200 §5, the least MTU any
   * IPv6 path has): what a narrower path loses first. Growing while nothing comes back is
   * the daemon's cue to probe the path MTU (path-mtu-watch.ts, F7).
   */
  largeSent = 0;
  private readonly pkts: Uint8Array[] = [];
  private offsets = new Uint32Array(256);
  private lengths = new Uint32Array(256);
  private slab = new Uint8Array(256 * 1600);
  private readonly replies: Uint8Array[] = [];
  /** A whole-buffer view per receive slab (a few, made once), for writeInPlace. */
  private readonly rxViews = new WeakMap<ArrayBufferLike, Uint8Array>();
  /**
   * Is a request in flight whose answer installs a Child SA (we initiated IKE_AUTH or a
   * CREATE_CHILD_SA)? Then ESP for an unknown SPI waits a moment for it (src/ipsec/spi-hold.ts).
   * The daemon sets it whenever it has applied IKE effects.
   */
  holdUnknownSpis = false;
  /** `tsvpn diagnose`'s probe (src/daemon/probe.ts): shown each inner packet ESP delivers while set. */
  echoWatch: ((p: Uint8Array) => void) | undefined = undefined;
  /** ESP for an SPI that may be about to be installed; the daemon's timer releases it (holdDeadline). */
  readonly held = new SpiHold();
  private readonly seen = { saSeen: [] as EspSa[], held: 0, encapLearnt: [] as EspSa[], moved: [] as { sa: EspSa; from: Endpoint }[], unauthenticatedFrom: undefined as Endpoint | undefined };
  /** The source of the UDP batch being processed (undefined: raw ESP, or not known). */
  private from: Endpoint | undefined;
  private viaUdp = false;
  /** Learnt outer path MTUs by peer address (failure map F7): their SAs carry less than innerMtu. */
  private readonly pathMtus = new Map<string, number>();
  private saMtus = new WeakMap<EspSa, number>();
  /** The MSS clamp's MTU for outbound SYNs, whose SA is not known before the SPD lookup: the narrowest SA's. */
  private clampMtu: number;
  private readonly holdFn = (pkt: Uint8Array, spi: number): boolean => {
    if (!this.holdUnknownSpis || !this.held.offer(pkt, spi, this.viaUdp, this.o.now())) return false;
    this.seen.held++;
    return true;
  };

  constructor(private readonly o: DatapathOptions) {
    this.clampMtu = o.innerMtu;
  }

  /**
   * The outer path MTU to `peer` learnt from ICMP or a probe (src/daemon/path-mtu.ts), or
   * undefined when it is the route's again. The SAs to that peer then carry at most
   * effectiveMtu(sa, mtu) inner octets: larger DF packets get ICMP too-big, SYNs a lower MSS.
   */
  setPathMtu(peer: string, mtu: number | undefined): void {
    if (mtu === undefined) this.pathMtus.delete(peer);
    else this.pathMtus.set(peer, mtu);
    this.saMtus = new WeakMap();
    this.clampMtu = this.o.innerMtu;
    for (const sa of this.o.sad.list()) if (sa.direction === 'out') this.mtuOf(sa);
  }

  /**
   * The largest inner packet an SA carries: the TUN MTU, or less when its peer's path MTU is
   * lower. For an inbound SA, that of the way back to the same peer (its outer address, in
   * tunnel mode the peer's). Worked out once per SA until a path MTU changes.
   */
  mtuOf(sa: EspSa): number {
    const known = this.saMtus.get(sa);
    if (known !== undefined) return known;
    const peer = sa.outer?.addr ?? (sa.direction === 'in' ? bytesToIp(sa.remoteAddress) : undefined);
    const path = peer === undefined ? undefined : this.pathMtus.get(peer);
    const mtu = path === undefined ? this.o.innerMtu : Math.min(this.o.innerMtu, effectiveMtu(sa, path));
    this.saMtus.set(sa, mtu);
    if (sa.direction === 'out') this.clampMtu = Math.min(this.clampMtu, mtu);
    return mtu;
  }

  /** The largest inner packet sent (larger ones are answered with ICMP, F7). */
  get innerMtu(): number {
    return this.o.innerMtu;
  }

  /**
   * One batch read from the TUN: encrypt and send. Returns the outbound SAs' sequence-number
   * soft limits and exhaustions (RFC 4303 §3.3.3) it hit, for the daemon to rekey. Never throws.
   */
  outbound(b: InnerBatch): readonly SaEvent[] {
    try {
      return this.doOutbound(b);
    } catch (e) {
      this.stats.internalErrors++;
      this.o.log.error('datapath', `outbound batch dropped: ${e instanceof Error ? e.message : String(e)}`);
      return NO_EVENTS;
    }
  }

  /**
   * One batch of ESP packets (UDP payloads when `viaUdp`, else raw): decrypt and write to the
   * TUN. Returns what it saw, for the daemon to act on. Never throws.
   */
  inbound(packets: readonly Uint8Array[], viaUdp = false, from?: Endpoint): InboundSeen {
    this.clearSeen();
    this.from = from;
    this.inboundOnce(packets, viaUdp, true);
    this.from = undefined;
    return this.seen;
  }

  private clearSeen(): void {
    this.seen.saSeen.length = 0;
    this.seen.encapLearnt.length = 0;
    this.seen.moved.length = 0;
    this.seen.unauthenticatedFrom = undefined;
    this.seen.held = 0;
  }

  private doOutbound(b: InnerBatch): readonly SaEvent[] {
    const o = this.o;
    const pkts = this.pkts;
    pkts.length = 0;
    this.replies.length = 0;
    for (let i = 0; i < b.count; i++) {
      const off = b.offsets[i];
      const len = b.lengths[i];
      const p = b.buf.subarray(off, off + len);
      if (isLinkLocalV6(p)) {
        this.stats.linkLocal++;
        continue;
      }
      if (len > o.innerMtu && o.tooBig) {
        // RFC 1191 / RFC 4443 §3.2 (failure map F7): tell the sender instead of dropping silently
        const reply = o.tooBig(p, o.innerMtu);
        if (reply) {
          this.replies.push(reply);
          this.stats.icmpTooBig++;
          continue;
        }
      }
      if (o.clampMss && isTcp(p)) this.clamp(p);
      pkts.push(p);
    }
    if (this.replies.length > 0) this.writeTun(this.replies);
    if (pkts.length === 0) return NO_EVENTS;
    const r = processOutbound(o.spd, o.sad, pkts, o.now());
    for (const d of r.drops) if (d.reason === DropReason.NO_POLICY) this.spdMisses.record(pkts[d.index], o.now());
    for (const ev of r.events) o.log.warn('esp', `SA ${spiHex(ev.spi)}: ${ev.type}, rekeying`);
    if (this.pathMtus.size > 0 && o.tooBig) this.overPathMtu(r, pkts);
    const n = r.count;
    if (n === 0) return r.events;
    const base = o.sad.outboundPlan.slab; // processOutbound sealed all of them into the SAD's slab
    const sa0 = r.sa[0];
    let same = true;
    for (let k = 1; k < n && same; k++) same = r.sa[k] === sa0;
    if (same) {
      this.send(sa0, base, r.espOffset, r.espLength, n); // straight from the plan: no view per packet
      return r.events;
    }
    // several SAs in one batch: one send per outer destination
    this.ensure(n, 0);
    const seen = new Set<EspSa>();
    for (let k = 0; k < n; k++) {
      const sa = r.sa[k];
      if (seen.has(sa)) continue;
      seen.add(sa);
      let count = 0;
      for (let j = k; j < n; j++) {
        if (r.sa[j] !== sa) continue;
        this.offsets[count] = r.espOffset[j];
        this.lengths[count] = r.espLength[j];
        count++;
      }
      this.send(sa, base, this.offsets, this.lengths, count);
    }
    return r.events;
  }

  /**
   * ESP whose inner packet is over its SA's MTU from a learnt path MTU (F7): not sent, the
   * sender gets ICMP too-big with that MTU instead (RFC 1191, RFC 4443 §3.2). The check is after
   * the SPD lookup, which names the SA; the sequence number it used is skipped, which ESP allows.
   */
  private overPathMtu(r: OutboundBatch, pkts: readonly Uint8Array[]): void {
    const replies: Uint8Array[] = [];
    let k = 0;
    for (let j = 0; j < r.count; j++) {
      const inner = pkts[r.source[j]];
      const mtu = this.mtuOf(r.sa[j]);
      const reply = inner.length > mtu ? this.o.tooBig!(inner, mtu) : undefined;
      if (reply) {
        replies.push(reply);
        this.stats.icmpTooBig++;
        continue;
      }
      r.espOffset[k] = r.espOffset[j];
      r.espLength[k] = r.espLength[j];
      r.sa[k] = r.sa[j];
      r.source[k] = r.source[j];
      k++;
    }
    r.count = r.sa.length = r.source.length = k;
    if (replies.length > 0) this.writeTun(replies);
  }

  private send(sa: EspSa, base: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): void {
    const dest = sa.outer;
    if (!dest) {
      this.stats.noDest += count;
      return;
    }
    const outerHeaders = (dest.addr.includes(':') ? IPV6_HEADER_LENGTH : IPV4_HEADER_LENGTH) + (dest.encap || !this.o.sendRaw ? UDP_HEADER_LENGTH : 0);
    for (let i = 0; i < count; i++) if (lengths[i] + outerHeaders > LARGE_OUTER) this.largeSent++;
    let sent: number;
    if (dest.encap || !this.o.sendRaw) sent = this.o.sendUdp(base, offsets, lengths, count, dest);
    else sent = this.o.sendRaw(base, offsets, lengths, count, dest.addr);
    if (sent < count) this.stats.sendErrors += count - sent;
  }

  /**
   * Hand back held ESP whose SA is now installed (the daemon calls this after applying IKE
   * effects, and when holdDeadline() is due), and count as unknown-spi what waited its whole
   * time. Returns what the released packets showed, as inbound() does. Never throws.
   */
  releaseHeld(): InboundSeen {
    this.clearSeen();
    if (this.held.size === 0) return this.seen;
    const { udp, raw, released } = this.held.take(this.o.now(), (spi) => this.o.sad.inbound(spi) !== undefined);
    if (released > 0) this.o.log.info('esp', `${released} ESP packet(s) arrived before the response that installed their SA: held until it was installed`);
    // processed without the hold: an SPI still unknown is dropped and counted now
    if (udp.length > 0) this.inboundOnce(udp, true, false);
    if (raw.length > 0) this.inboundOnce(raw, false, false);
    return this.seen;
  }

  /** When the oldest held packet's wait ends (undefined: nothing held): then call releaseHeld(). */
  holdDeadline(): number | undefined {
    return this.held.nextDeadline();
  }

  /** Forget what is held (shutdown). */
  clearHeld(): void {
    this.held.clear();
  }

  private inboundOnce(packets: readonly Uint8Array[], viaUdp: boolean, hold: boolean): void {
    try {
      this.doInbound(packets, viaUdp, hold);
    } catch (e) {
      this.stats.internalErrors++;
      this.o.log.error('datapath', `inbound batch dropped: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private doInbound(packets: readonly Uint8Array[], viaUdp: boolean, hold: boolean): void {
    this.viaUdp = viaUdp;
    const r = processInbound(this.o.sad, packets, this.o.now(), hold ? this.holdFn : undefined);
    if (r.packets.length === 0) {
      if (this.from && r.drops.length > 0) this.seen.unauthenticatedFrom = this.from;
      return;
    }
    this.lastInbound = this.o.now();
    this.observe(r.sa, viaUdp);
    if (this.echoWatch) for (const p of r.packets) this.echoWatch(p);
    if (r.sa.some((sa) => sa.mode === 'transport')) {
      this.writeTransport(r.packets, r.sa, r.nextHeader);
      return;
    }
    if (this.o.clampMss) for (let i = 0; i < r.packets.length; i++) if (isTcp(r.packets[i])) this.clamp(r.packets[i], r.sa[i]);
    if (!this.writeInPlace(r.packets)) this.writeTun(r.packets);
  }

  /**
   * Write packets that are all views into one buffer (the receive slab they were opened in,
   * native AEAD) from where they are, without a copy. False, writing nothing, when they are not.
   */
  private writeInPlace(list: readonly Uint8Array[]): boolean {
    const ab = list[0].buffer;
    for (let i = 1; i < list.length; i++) if (list[i].buffer !== ab) return false;
    let view = this.rxViews.get(ab);
    if (!view) {
      view = new Uint8Array(ab);
      this.rxViews.set(ab, view);
    }
    this.ensure(list.length, 0);
    for (let i = 0; i < list.length; i++) {
      this.offsets[i] = list[i].byteOffset;
      this.lengths[i] = list[i].byteLength;
    }
    const w = this.o.tun.writeBatch(view, this.offsets, this.lengths, list.length);
    if (w < list.length) this.stats.tunWriteErrors += list.length - w;
    return true;
  }

  /**
   * Transport mode (RFC 4303 §3.1.1): ESP carried only the upper-layer payload, so the IP
   * header the TUN needs is rebuilt in front of it (RFC 4301 §5.2 step 3): source = the SA's
   * remote outer address, destination = ours, protocol = the ESP Next Header. Tunnel-mode
   * packets in the same batch are copied as they are. One copy into the slab, one TUN write.
   */
  private writeTransport(list: readonly Uint8Array[], sas: readonly EspSa[], next: readonly number[]): void {
    let total = 0;
    for (let i = 0; i < list.length; i++) total += list[i].length + transportHeaderLength(sas[i]);
    this.ensure(list.length, total);
    let off = 0;
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      const sa = sas[i];
      const h = sa.mode === 'transport' ? writeIpHeader(this.slab, off, sa.remoteAddress, sa.localAddress, next[i], p.length) : 0;
      this.slab.set(p, off + h);
      this.offsets[i] = off;
      this.lengths[i] = h + p.length;
      const whole = this.slab.subarray(off, off + h + p.length);
      if (this.o.clampMss && isTcp(whole)) this.clamp(whole, sa);
      off += h + p.length;
    }
    const w = this.o.tun.writeBatch(this.slab, this.offsets, this.lengths, list.length);
    if (w < list.length) this.stats.tunWriteErrors += list.length - w;
  }

  /**
   * Note the SAs that delivered packets, and those set up for raw ESP whose packets came in
   * UDP (the peer sends ESP in UDP, so it wants it back that way). Only packets that passed
   * the ICV get here, so neither can be forged.
   */
  private observe(sas: readonly EspSa[], viaUdp: boolean): void {
    const seen = this.seen;
    let last: EspSa | undefined;
    for (const sa of sas) {
      if (sa === last) continue;
      last = sa;
      if (seen.saSeen.includes(sa)) continue;
      seen.saSeen.push(sa);
      if (viaUdp && sa.outer && !sa.outer.encap) seen.encapLearnt.push(sa);
      const from = this.from;
      if (from && sa.outer?.encap && (sa.outer.addr !== from.addr || sa.outer.port !== from.port)) seen.moved.push({ sa, from });
    }
  }

  /** Copy packets into the reused slab and write them with one call into the addon. */
  private writeTun(list: readonly Uint8Array[]): void {
    let total = 0;
    for (const p of list) total += p.length;
    this.ensure(list.length, total);
    let off = 0;
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      this.slab.set(p, off);
      this.offsets[i] = off;
      this.lengths[i] = p.length;
      off += p.length;
    }
    const w = this.o.tun.writeBatch(this.slab, this.offsets, this.lengths, list.length);
    if (w < list.length) this.stats.tunWriteErrors += list.length - w;
  }

  /** Inbound: `sa` delivered it (a SYN-ACK through a narrower path gets that path's MSS); outbound: the narrowest SA's. */
  private clamp(p: Uint8Array, sa?: EspSa): void {
    const v4 = p[0] >> 4 === 4;
    const mtu = this.pathMtus.size === 0 ? this.o.innerMtu : sa ? this.mtuOf(sa) : this.clampMtu;
    const mss = mtu - (v4 ? IPV4_TCP_HEADERS : IPV6_TCP_HEADERS);
    if (this.o.clampMss!(p, mss)) this.stats.mssClamped++;
  }

  private ensure(count: number, bytes: number): void {
    if (this.offsets.length < count) {
      this.offsets = new Uint32Array(count * 2);
      this.lengths = new Uint32Array(count * 2);
    }
    if (this.slab.length < bytes) this.slab = new Uint8Array(bytes * 2);
  }
}

const NO_EVENTS: readonly SaEvent[] = [];

/** Packets laid back to back as one batch, as the TUN reader hands them over (for packets made, not read: diagnose's probe). */
export function innerBatch(packets: readonly Uint8Array[]): InnerBatch {
  const buf = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
  const offsets = new Uint32Array(packets.length);
  const lengths = new Uint32Array(packets.length);
  let off = 0;
  packets.forEach((p, i) => {
    buf.set(p, off);
    offsets[i] = off;
    lengths[i] = p.length;
    off += p.length;
  });
  return { buf, offsets, lengths, count: packets.length };
}

/** IPv4 protocol (byte 9) or IPv6 Next Header (byte 6) is TCP; extension headers are left alone. */
function isTcp(p: Uint8Array): boolean {
  return p.length >= 40 && (p[0] >> 4 === 4 ? p[9] === 6 : p[0] >> 4 === 6 && p[6] === 6);
}

/** RFC 4291 §2.5.6: an IPv6 source in fe80::/10 (link-local). */
function isLinkLocalV6(p: Uint8Array): boolean {
  return p.length >= 40 && p[0] >> 4 === 6 && p[8] === 0xfe && (p[9] & 0xc0) === 0x80;
}

function transportHeaderLength(sa: EspSa): number {
  if (sa.mode !== 'transport') return 0;
  return sa.remoteAddress.length === 16 ? IPV6_HEADER_LENGTH : IPV4_HEADER_LENGTH;
}
