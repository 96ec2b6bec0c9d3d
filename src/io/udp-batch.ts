// A UDP socket read with recvmmsg (batches from the addon's reader thread) and written
// with sendmmsg (one call into the addon per batch). It carries NAT-T (UDP 4500) ESP.
//
//   const sock = openUdpBatch({ address: '0.0.0.0', port: 4500 });
//   sock.onBatch((b) => { for (let i = 0; i < b.count; i++) handle(b.packet(i), b.srcAddress(i), b.srcPort(i)); });
//   sock.sendBatch(buf, offsets, lengths, count, '198.51.100.2', 4500);

import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { bytesToIp } from '../wire/ip-text.js';

import {
  checkInt,
  EndpointWrapper,
  IoError,
  loadNative,
  native,
  SlabBatch,
  type NativeSlab,
  type NativeStats,
  type NativeUdpSocket,
  type IcmpErrorReport,
  type PacketBatch,
} from './native.js';

export { IoError, type PacketBatch } from './native.js';

export interface UdpBatchOptions {
  /** Local IPv4 or IPv6 address to bind ("0.0.0.0", "::", "127.0.0.1"). */
  address: string;
  /** Local port; 0 lets the kernel pick (see localPort). */
  port?: number;
  /** Datagrams per batch at most (1..1024). */
  batch?: number;
  /** Batches in flight at most (2..64): the back-pressure bound. */
  slabs?: number;
  /** Largest datagram received; larger ones are dropped and counted in stats.rxErrors. */
  maxDatagram?: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes; 0 keeps the system default. */
  rcvbuf?: number;
  sndbuf?: number;
  /**
   * Ask for UDP_GRO (Linux 5.0+): the kernel hands up a run of datagrams from one source as one
   * message, which the reader cuts back into its datagrams, so batches look the same to JS with
   * one trip through the stack per run. Where the kernel refuses, `gro` says why.
   */
  gro?: boolean;
}

/** Whether a UDP offload (GRO, GSO) is on, and the text the log and status show: `gro on` or `gro off (why)`. */
export interface UdpGro {
  on: boolean;
  text: string;
}

export type UdpStats = NativeStats;

/** A batch of received datagrams with their source addresses. Valid only during the callback. */
export interface UdpBatch extends PacketBatch {
  /** 16 bytes per datagram; IPv4 sources as ::ffff:a.b.c.d. */
  readonly srcAddrs: Uint8Array;
  readonly srcPorts: Uint16Array;
  /** Source address of datagram i as text ("127.0.0.1", "2001:db8::1"). */
  srcAddress(i: number): string;
  srcPort(i: number): number;
}

export interface UdpBatchSocket {
  readonly address: string;
  readonly localPort: number;
  readonly family: 4 | 6;
  readonly closed: boolean;
  readonly stats: UdpStats;
  readonly lastError: IoError | undefined;
  readonly gro: UdpGro;
  /**
   * UDP GSO on send: runs of same-size datagrams to one destination go as one UDP_SEGMENT message
   * (mmsg_io.cc), on until a kernel or route refuses it (then one datagram per message, and the
   * text says why). Read when asked: it can turn off while the socket runs.
   */
  readonly gso: UdpGro;
  /** Starts the reader thread on the first call; a later call replaces the callback. */
  onBatch(cb: (batch: UdpBatch) => void): void;
  /** A failure that stops the reader. Without a handler it is thrown. */
  onError(cb: (err: IoError) => void): void;
  /**
   * Sends datagrams i < count (buf[offsets[i], offsets[i] + lengths[i])) to one destination
   * with sendmmsg. Returns how many were sent; the rest are counted in stats.txErrors.
   */
  sendBatch(
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    dstAddr: string,
    dstPort: number,
  ): number;
  /** The ICMP errors reported for datagrams sent since the last call (failure map F7, F1). */
  icmpErrors(): IcmpErrorReport[];
  ref(): void;
  unref(): void;
  /** Stops the reader thread and closes the socket. Idempotent. */
  close(): void;
}

export const UDP_DEFAULTS = { port: 0, batch: 64, slabs: 4, maxDatagram: 16384, rcvbuf: 0, sndbuf: 0, gro: false } as const;

/** Formats 16 address bytes: IPv4-mapped as dotted quad, else RFC 5952 §4 text. */
export function formatAddress(b: Uint8Array, off = 0): string {
  let mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = b[off + i] === 0;
  if (mapped) return `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  return bytesToIp(b.subarray(off, off + 16));
}

class UdpSlabBatch extends SlabBatch implements UdpBatch {
  readonly srcAddrs: Uint8Array;
  readonly srcPorts: Uint16Array;
  constructor(slab: NativeSlab) {
    super(slab);
    this.srcAddrs = slab.addrs as Uint8Array;
    this.srcPorts = slab.ports as Uint16Array;
  }
  srcAddress(i: number): string {
    this.packet(i); // range check
    return formatAddress(this.srcAddrs, i * 16);
  }
  srcPort(i: number): number {
    this.packet(i);
    return this.srcPorts[i];
  }
}

/** Creates the socket (SO_REUSEADDR) and binds it. */
export function openUdpBatch(options: UdpBatchOptions): UdpBatchSocket {
  const o = { ...UDP_DEFAULTS, ...options };
  if (isIP(o.address) === 0) {
    throw new IoError(`${JSON.stringify(o.address)} is not an IPv4 or IPv6 address`, 'ERR_INVALID_ARG');
  }
  checkInt('port', o.port, 0, 65535);
  checkInt('batch', o.batch, 1, 1024);
  checkInt('slabs', o.slabs, 2, 64);
  checkInt('maxDatagram', o.maxDatagram, 1, 65535);
  checkInt('rcvbuf', o.rcvbuf, 0, 2 ** 30);
  checkInt('sndbuf', o.sndbuf, 0, 2 ** 30);
  const addon = loadNative();
  const sock = native(
    () => new addon.UdpSocket(o.address, o.port, o.batch, o.slabs, o.maxDatagram, o.rcvbuf, o.sndbuf, o.gro),
  );
  return new Udp(sock, o.address);
}

class Udp extends EndpointWrapper<NativeUdpSocket, UdpSlabBatch> implements UdpBatchSocket {
  readonly localPort: number;
  readonly family: 4 | 6;
  readonly gro: UdpGro;

  constructor(
    sock: NativeUdpSocket,
    readonly address: string,
  ) {
    super(sock, (slab) => new UdpSlabBatch(slab));
    this.localPort = sock.localPort();
    this.family = sock.family();
    const g = sock.gro();
    const why = g.errno === 0 ? 'not asked for' : `the kernel refused UDP_GRO: ${getSystemErrorName(-g.errno)}`;
    this.gro = { on: g.on, text: g.on ? 'gro on' : `gro off (${why})` };
  }

  get gso(): UdpGro {
    const g = native(() => this.endpoint.gso());
    return { on: g.on, text: g.on ? 'gso on' : `gso off (the kernel refused UDP_SEGMENT: ${getSystemErrorName(-g.errno)})` };
  }

  sendBatch(...args: Parameters<UdpBatchSocket['sendBatch']>): number {
    return native(() => this.endpoint.sendBatch(...args));
  }

  icmpErrors(): IcmpErrorReport[] {
    return this.closed ? [] : native(() => this.endpoint.icmpErrors());
  }
}
