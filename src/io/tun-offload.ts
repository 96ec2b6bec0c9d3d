// The TUN's offloads (IFF_VNET_HDR + TUNSETOFFLOAD, native/src/tun_open.cc) seen from JS:
// what the kernel agreed to, as a line for the log and `tsvpn status`, and what the reader
// thread counted while it turned what such a TUN reads (a virtio_net_hdr before each packet,
// TCP/UDP super-packets up to 64 KB) into ordinary IP packets of at most the MTU
// (native/src/gso_segment.cc), so everything after the TUN reader sees the packets it saw
// without offloads, and the wire is unchanged.

import { constants } from 'node:os';
import { loadNative, native } from './native.js';

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

/** Counters of the offload path, beside the TUN's own: the reader thread's (TunDevice.offloadStats). */
export interface OffloadStats {
  /** GSO super-packets read and cut. */
  superPackets: number;
  /** The packets they were cut into. */
  segments: number;
  /** Reads dropped: too short for a virtio_net_hdr, a GSO type or headers we cannot cut, checksum offsets outside the packet. */
  malformed: number;
}

/**
 * The reader thread's cut (native/src/gso_segment.cc) run on one read (a virtio_net_hdr and the
 * packet after it) given here: its packets go to out from offset 0, their offsets and lengths to
 * offsets/lengths. Returns how many, -1 for a read the reader drops as malformed; throws a
 * RangeError when they do not fit. The TUN reader runs the same code on every read; this entry
 * is for tests.
 */
export function cutRead(read: Uint8Array, out: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): number {
  const addon = loadNative();
  return native(() => addon.TunDevice.cut(read, out, offsets, lengths));
}
