// ESP straight over IP (protocol 50, RFC 4303 §2) through a raw socket: the datapath's
// outer transport when IKE finds no NAT (RFC 7296 §2.23); with a NAT, ESP goes over UDP
// 4500 instead (udp-batch.ts, RFC 3948). Read with recvmmsg in the addon's reader thread,
// written with sendmmsg, one call into the addon per batch.
//
//   const sock = openRawEsp({ address: '198.51.100.1' });
//   sock.onBatch((b) => { for (let i = 0; i < b.count; i++) handle(b.packet(i), b.srcAddress(i)); });
//   sock.sendBatch(buf, offsets, lengths, count, '198.51.100.2');
//
// Packet i of a batch is the ESP packet itself (SPI first): the IPv4 header the kernel
// hands a raw socket is skipped in C; IPv6 raw sockets never include one. On send the
// kernel writes the outer IP header; a packet larger than the path MTU is fragmented by
// the kernel (IPv4 and IPv6 alike) and reassembled by the receiving kernel, so keeping
// ESP under the MTU is the datapath's choice (src/ipsec/mtu.ts), not this socket's.
// Opening needs root or CAP_NET_RAW.
//
// The kernel here has no ESP (xfrm) module: without a raw socket for protocol 50 it
// answers ESP with ICMP "protocol unreachable" (IPv4) or "unrecognized next header"
// (ICMPv6 parameter problem); while the socket is open it takes the packets and the
// kernel sends nothing back (test/io/raw-esp.test.ts checks both).

import { isIP } from 'node:net';

import {
  checkInt,
  EndpointWrapper,
  IoError,
  loadNative,
  native,
  NOT_BUILT_HINT,
  SlabBatch,
  type IcmpErrorReport,
  type NativeEndpoint,
  type NativeSlab,
  type NativeStats,
  type PacketBatch,
} from './native.js';
import { formatAddress } from './udp-batch.js';

export { IoError, type IcmpErrorReport, type PacketBatch } from './native.js';

export interface RawEspOptions {
  /** Local IPv4 or IPv6 address to bind ("198.51.100.1", "2001:db8::1"; "0.0.0.0" takes all). */
  address: string;
  /** Packets per batch at most (1..1024). */
  batch?: number;
  /** Batches in flight at most (2..64): the back-pressure bound. */
  slabs?: number;
  /** Largest ESP packet received (without the IP header); larger ones are dropped and counted in stats.rxErrors. */
  maxPacket?: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes; 0 keeps the system default. */
  rcvbuf?: number;
  sndbuf?: number;
}

export const RAW_ESP_DEFAULTS = { batch: 64, slabs: 4, maxPacket: 16384, rcvbuf: 0, sndbuf: 0 } as const;

/** A batch of received ESP packets with their source addresses. Valid only during the callback. */
export interface RawEspBatch extends PacketBatch {
  /** 16 bytes per packet; IPv4 sources as ::ffff:a.b.c.d. */
  readonly srcAddrs: Uint8Array;
  /** Source address of packet i as text ("198.51.100.2", "2001:db8::2"). */
  srcAddress(i: number): string;
}

export interface RawEspSocket {
  readonly address: string;
  readonly family: 4 | 6;
  readonly closed: boolean;
  /** rxErrors: packets dropped on receive (too large, malformed IPv4 header); txErrors: refused by the kernel. */
  readonly stats: NativeStats;
  readonly lastError: IoError | undefined;
  /** Starts the reader thread on the first call; a later call replaces the callback. */
  onBatch(cb: (b: RawEspBatch) => void): void;
  /** A failure that stops the reader. Without a handler it is thrown. */
  onError(cb: (e: IoError) => void): void;
  /**
   * Sends ESP packets i < count (buf[offsets[i], offsets[i] + lengths[i])) to one
   * destination of the socket's family. Returns how many were sent; the rest are counted
   * in stats.txErrors (full send buffer, EMSGSIZE, unreachable), never thrown.
   */
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dstAddr: string): number;
  /** The ICMP errors reported for ESP sent since the last call (failure map F7). */
  icmpErrors(): IcmpErrorReport[];
  ref(): void;
  unref(): void;
  /** Stops the reader thread and closes the socket. Idempotent. */
  close(): void;
}

interface NativeRawEspSocket extends NativeEndpoint {
  family(): 4 | 6;
  icmpErrors(): IcmpErrorReport[];
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, address: string): number;
}

type NativeRawEspCtor = new (
  address: string,
  batch: number,
  slabs: number,
  maxPacket: number,
  rcvbuf: number,
  sndbuf: number,
) => NativeRawEspSocket;

class RawEspSlabBatch extends SlabBatch implements RawEspBatch {
  readonly srcAddrs: Uint8Array;
  constructor(slab: NativeSlab) {
    super(slab);
    this.srcAddrs = slab.addrs as Uint8Array;
  }
  srcAddress(i: number): string {
    this.packet(i); // range check
    return formatAddress(this.srcAddrs, i * 16);
  }
}

function nativeCtor(): NativeRawEspCtor {
  const ctor = (loadNative() as unknown as { RawEspSocket?: NativeRawEspCtor }).RawEspSocket;
  if (typeof ctor !== 'function') {
    throw new IoError(`the native addon was built without raw ESP support: ${NOT_BUILT_HINT}`, 'ERR_NATIVE_LOAD');
  }
  return ctor;
}

/** Opens a raw IP socket of protocol 50 and binds it to `address`. */
export function openRawEsp(options: RawEspOptions): RawEspSocket {
  const o = { ...RAW_ESP_DEFAULTS, ...options };
  if (typeof o.address !== 'string' || isIP(o.address) === 0) {
    throw new IoError(`${JSON.stringify(o.address)} is not an IPv4 or IPv6 address`, 'ERR_INVALID_ARG');
  }
  checkInt('batch', o.batch, 1, 1024);
  checkInt('slabs', o.slabs, 2, 64);
  checkInt('maxPacket', o.maxPacket, 1, 65535);
  checkInt('rcvbuf', o.rcvbuf, 0, 2 ** 30);
  checkInt('sndbuf', o.sndbuf, 0, 2 ** 30);
  const Ctor = nativeCtor();
  const sock = native(() => new Ctor(o.address, o.batch, o.slabs, o.maxPacket, o.rcvbuf, o.sndbuf));
  return new RawEsp(sock, o.address);
}

class RawEsp extends EndpointWrapper<NativeRawEspSocket, RawEspSlabBatch> implements RawEspSocket {
  readonly family: 4 | 6;

  constructor(
    sock: NativeRawEspSocket,
    readonly address: string,
  ) {
    super(sock, (slab) => new RawEspSlabBatch(slab));
    this.family = sock.family();
  }

  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dstAddr: string): number {
    return native(() => this.endpoint.sendBatch(buf, offsets, lengths, count, dstAddr));
  }

  icmpErrors(): IcmpErrorReport[] {
    return this.closed ? [] : native(() => this.endpoint.icmpErrors());
  }
}
