// A Linux TUN device (IFF_TUN | IFF_NO_PI: raw IPv4/IPv6 packets, no prefix) read and
// written in batches through the native addon. Closing it removes the device. With
// `offload`, the kernel hands over TCP/UDP super-packets (IFF_VNET_HDR, TSO/USO and checksum
// offload), which the reader thread cuts into packets of at most the MTU before the callback
// sees them (native/src/gso_segment.cc): the callback and writeBatch deal in plain IP packets
// either way.
//
//   const tun = openTun({ name: 'tsvpn0', mtu: 1400 });
//   tun.onBatch((b) => { for (let i = 0; i < b.count; i++) handle(b.packet(i)); });
//   tun.writeBatch(buf, offsets, lengths, count);

import {
  checkInt,
  EndpointWrapper,
  IoError,
  loadNative,
  native,
  SlabBatch,
  type NativeStats,
  type NativeTunDevice,
  type PacketBatch,
} from './native.js';
import { describeOffload, type OffloadStats, type TunOffload } from './tun-offload.js';
import { GroCoalescer } from '../wire/gro-coalesce.js';

export { IoError, type PacketBatch } from './native.js';

export interface TunOptions {
  /** Interface name, at most 15 bytes (IFNAMSIZ - 1); "tun%d" lets the kernel pick. */
  name?: string;
  /** Device MTU (68..65535); also the read size, so keep it unchanged while open. */
  mtu?: number;
  /** Packets per batch at most (1..1024). */
  batch?: number;
  /** Batches in flight at most (2..64): the back-pressure bound. */
  slabs?: number;
  /** Ask the kernel for TSO/USO and checksum offload (default false); what it agreed to is `offload`. */
  offload?: boolean;
}

export type TunStats = NativeStats;

/** TUN writes that were coalesced runs (GRO, src/wire/gro-coalesce.ts), and the packets in them. */
export interface WriteOffloadStats {
  coalescedWrites: number;
  coalesced: number;
}

export interface TunDevice {
  /** The name the kernel gave the device. */
  readonly name: string;
  readonly mtu: number;
  readonly fd: number;
  readonly closed: boolean;
  /** Counters since open; still readable after close(). */
  readonly stats: TunStats;
  /** The error that stopped the reader, if any. */
  readonly lastError: IoError | undefined;
  /** The offloads in force (all off unless asked for), and why one is off. */
  readonly offload: TunOffload;
  /** Super-packets read and cut, segments made, malformed reads dropped; super-packets written and the segments coalesced into them (zero without offloads). */
  readonly offloadStats: OffloadStats & WriteOffloadStats;
  /** Starts the reader thread on the first call; a later call replaces the callback. */
  onBatch(cb: (batch: PacketBatch) => void): void;
  /** A failure that stops the reader (e.g. the device was deleted). Without a handler it is thrown. */
  onError(cb: (err: IoError) => void): void;
  /**
   * Writes packets i < count (buf[offsets[i], offsets[i] + lengths[i])) with one call into
   * the addon. Returns how many the kernel accepted; the rest are counted in stats.txErrors.
   */
  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /** Keep the process alive while reading (the default once onBatch is called) or not. */
  ref(): void;
  unref(): void;
  /** Stops the reader thread and closes the fd; the device disappears. Idempotent. */
  close(): void;
}

export const TUN_DEFAULTS = { name: 'tun%d', mtu: 1400, batch: 64, slabs: 4, offload: false } as const;

const IFNAMSIZ = 16; // <linux/if.h>: names are at most 15 bytes plus NUL

/** Checks a name the way the kernel's dev_valid_name() does; throws IoError ERR_TUN_NAME. */
export function validateTunName(name: string): void {
  const bytes = Buffer.byteLength(name);
  const bad = (why: string): never => {
    throw new IoError(`invalid TUN device name ${JSON.stringify(name)}: ${why}`, 'ERR_TUN_NAME');
  };
  if (bytes === 0) bad('it is empty');
  if (bytes >= IFNAMSIZ) bad(`it is ${bytes} bytes long, at most ${IFNAMSIZ - 1} (IFNAMSIZ)`);
  if (name === '.' || name === '..') bad('"." and ".." are reserved');
  if (/[/:\s]/.test(name)) bad('it contains "/", ":" or whitespace');
  if ((name.match(/%/g) ?? []).length > 1) bad('at most one "%d" is allowed');
}

/** Creates the device, sets its MTU and brings it up. Needs root or CAP_NET_ADMIN. */
export function openTun(options: TunOptions = {}): TunDevice {
  const { name, mtu, batch, slabs, offload } = { ...TUN_DEFAULTS, ...options };
  validateTunName(name);
  checkInt('mtu', mtu, 68, 65535);
  checkInt('batch', batch, 1, 1024);
  checkInt('slabs', slabs, 2, 64);
  const addon = loadNative();
  const dev = native(() => new addon.TunDevice(name, mtu, batch, slabs, offload));
  return new Tun(dev, mtu);
}

class Tun extends EndpointWrapper<NativeTunDevice, SlabBatch> implements TunDevice {
  readonly name: string;
  readonly fd: number;
  readonly offload: TunOffload;
  private readonly gro: GroCoalescer | undefined;

  constructor(
    dev: NativeTunDevice,
    readonly mtu: number,
  ) {
    super(dev, (slab) => new SlabBatch(slab));
    this.name = dev.name();
    this.fd = dev.fd();
    this.offload = describeOffload(dev.offload());
    // runs of one flow's UDP datagrams too where the kernel took USO (GSO_UDP_L4 writes)
    this.gro = this.offload.tso ? new GroCoalescer({ udp: this.offload.uso }) : undefined;
  }

  get offloadStats(): OffloadStats & WriteOffloadStats {
    const rx = this.endpoint.offloadStats();
    return { ...rx, coalescedWrites: this.gro?.stats.superPackets ?? 0, coalesced: this.gro?.stats.coalesced ?? 0 };
  }

  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    const gro = this.gro;
    if (!gro) return native(() => this.endpoint.writeBatch(buf, offsets, lengths, count));
    // TSO on: runs of one TCP flow's segments (and with USO, of one UDP flow's datagrams) go in as one super-packet each (one write per run)
    gro.coalesce(buf, offsets, lengths, count);
    const written = native(() => this.endpoint.writeBatch(gro.slab, gro.offsets, gro.lengths, gro.count, true));
    return count - (gro.count - written); // a refused super-packet counts as one packet refused
  }
}
