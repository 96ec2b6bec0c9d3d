// The TUN's offloads (IFF_VNET_HDR + TUNSETOFFLOAD, native/src/tun_open.cc) seen from JS:
// what the kernel agreed to, as a line for the log and `tsvpn status`, and the batch that turns
// what such a TUN reads (a virtio_net_hdr before each packet, TCP/UDP super-packets up to
// 64 KB) into ordinary IP packets of at most the MTU (src/wire/gso-segment.ts), so everything
// after the TUN reader sees the packets it saw without offloads, and the wire is unchanged.

import { constants } from 'node:os';
import {
  finishChecksum,
  GSO_NONE,
  gsoPlan,
  newVnetHdr,
  readVnetHdr,
  segmentedLength,
  VIRTIO_NET_HDR_LENGTH,
  VNET_F_NEEDS_CSUM,
  writeSegments,
} from '../wire/gso-segment.js';
import { IoError, type PacketBatch } from './native.js';

/** <linux/if_tun.h> TUNSETOFFLOAD flags. */
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;

/** What the native TunDevice reports about its offloads. */
export interface NativeOffload {
  /** Opened with IFF_VNET_HDR: every read and write carries a virtio_net_hdr. */
  vnet: boolean;
  /** The TUN_F_* flags the kernel accepted (0: none). */
  flags: number;
  /** The errno of the last refusal, 0 when it took all it was asked for. */
  errno: number;
  /** What it refused ("USO", "TSO and checksum offload"), "" when nothing. */
  refused: string;
}

export interface TunOffload {
  /** TCP segmentation offload: the kernel hands over TCP super-packets (TSO4 and TSO6). */
  tso: boolean;
  /** UDP segmentation offload (Linux 6.2+). */
  uso: boolean;
  /** `tso on, uso on`, or `tso off (why)`: the line the log and `tsvpn status` show. */
  text: string;
}

const errnoName = (n: number): string => Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

/** The offloads in force, and why one is off. */
export function describeOffload(n: NativeOffload): TunOffload {
  const tso = (n.flags & (TUN_F_TSO4 | TUN_F_TSO6)) === (TUN_F_TSO4 | TUN_F_TSO6);
  const uso = (n.flags & TUN_F_USO4) !== 0;
  const why = !n.vnet ? 'not asked for' : `the kernel refused ${n.refused}: ${errnoName(n.errno)}`;
  const text = !tso ? `tso off (${why})` : `tso on, uso ${uso ? 'on' : `off (${why})`}`;
  return { tso, uso, text };
}

/** Counters of the offload path, beside the TUN's own. */
export interface OffloadStats {
  /** GSO super-packets read and cut. */
  superPackets: number;
  /** The packets they were cut into. */
  segments: number;
  /** Reads dropped: too short for a virtio_net_hdr, a GSO type or headers we cannot cut, checksum offsets outside the packet. */
  malformed: number;
}

const MIN_SLAB = 256 * 1024;

/** Packet i of a raw vnet batch, past its virtio_net_hdr. */
const packetOf = (raw: PacketBatch, i: number): Buffer => raw.buf.subarray(raw.offsets[i] + VIRTIO_NET_HDR_LENGTH, raw.offsets[i] + raw.lengths[i]);

/**
 * One reusable batch (no allocation per batch, a copy only where there is a super-packet): the
 * packets of a raw vnet batch, each without its header, checksums finished, super-packets cut
 * into segments in a slab of its own. Valid until the next fill(), like the batch it came from.
 */
export class VnetBatch implements PacketBatch {
  buf: Buffer = Buffer.alloc(0);
  offsets = new Uint32Array(256);
  lengths = new Uint32Array(256);
  count = 0;
  readonly stats: OffloadStats = { superPackets: 0, segments: 0, malformed: 0 };
  private slab = Buffer.alloc(MIN_SLAB);
  private readonly h = newVnetHdr();

  fill(raw: PacketBatch): this {
    let gso = false;
    for (let i = 0; i < raw.count && !gso; i++) gso = raw.lengths[i] > VIRTIO_NET_HDR_LENGTH && raw.buf[raw.offsets[i] + 1] !== GSO_NONE;
    this.count = 0;
    return gso ? this.cut(raw) : this.inPlace(raw);
  }

  packet(i: number): Buffer {
    if (!(i >= 0 && i < this.count)) throw new IoError(`packet index ${i} is outside the batch of ${this.count}`, 'ERR_OUT_OF_RANGE');
    return this.buf.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]);
  }

  /** No super-packet: the packets stay where they were read, past their headers. */
  private inPlace(raw: PacketBatch): this {
    this.buf = raw.buf;
    this.room(raw.count);
    for (let i = 0; i < raw.count; i++) {
      if (!this.strip(raw, i)) continue;
      this.offsets[this.count] = raw.offsets[i] + VIRTIO_NET_HDR_LENGTH;
      this.lengths[this.count++] = raw.lengths[i] - VIRTIO_NET_HDR_LENGTH;
    }
    return this;
  }

  /** Some super-packets: every packet into the slab, super-packets as their segments. */
  private cut(raw: PacketBatch): this {
    let at = 0;
    for (let i = 0; i < raw.count; i++) {
      if (!this.strip(raw, i)) continue;
      const pkt = packetOf(raw, i);
      const h = this.h;
      if (h.gsoType === GSO_NONE) {
        this.room(this.count + 1);
        this.grow(at + pkt.length, at);
        this.slab.set(pkt, at);
        this.offsets[this.count] = at;
        this.lengths[this.count++] = pkt.length;
        at += pkt.length;
        continue;
      }
      const plan = gsoPlan(h, pkt);
      if (!plan) {
        this.stats.malformed++;
        continue;
      }
      this.room(this.count + plan.segments);
      this.grow(at + segmentedLength(plan, pkt), at);
      at = writeSegments(h, plan, pkt, this.slab, at, this.offsets, this.lengths, this.count);
      this.count += plan.segments;
      this.stats.superPackets++;
      this.stats.segments += plan.segments;
    }
    this.buf = this.slab;
    return this;
  }

  /**
   * Read packet i's header into this.h and finish its checksum; false (counted) when malformed.
   * No view of the packet is made unless its checksum needs finishing: this runs per packet.
   */
  private strip(raw: PacketBatch, i: number): boolean {
    if (raw.lengths[i] <= VIRTIO_NET_HDR_LENGTH) {
      this.stats.malformed++;
      return false;
    }
    const h = readVnetHdr(raw.buf, raw.offsets[i], this.h);
    // a super-packet's checksums are written per segment; any other gets its own finished here
    if (h.gsoType === GSO_NONE && h.flags & VNET_F_NEEDS_CSUM && !finishChecksum(h, packetOf(raw, i))) {
      this.stats.malformed++;
      return false;
    }
    return true;
  }

  private room(count: number): void {
    if (this.offsets.length >= count) return;
    const offsets = new Uint32Array(count * 2);
    const lengths = new Uint32Array(count * 2);
    offsets.set(this.offsets);
    lengths.set(this.lengths);
    this.offsets = offsets;
    this.lengths = lengths;
  }

  /** Room for `bytes` in the slab, keeping the first `used`. */
  private grow(bytes: number, used: number): void {
    if (this.slab.length >= bytes) return;
    const slab = Buffer.alloc(Math.max(bytes, this.slab.length * 2));
    this.slab.copy(slab, 0, 0, used);
    this.slab = slab;
  }
}
