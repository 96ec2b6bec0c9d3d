// Loads the native addon (native/, built by node-gyp at `npm ci`) and holds what the TUN
// and UDP wrappers share: the typed view of the addon, IoError, and the batch view.
//
// The addon hands packets to JS a batch at a time: a reader thread fills one of a few
// preallocated slabs and makes one call into JS per slab. A batch is valid only during
// its callback; the slab is reused as soon as the callback returns (copy what you keep).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AeadAlg, InPlaceAead } from '../crypto/aead-types.js';

/** Every error thrown on purpose by src/io. `code` is an errno name ("EPERM") or ERR_*. */
export class IoError extends Error {
  override name = 'IoError';
  constructor(
    message: string,
    readonly code: string,
    readonly errno?: number,
    readonly syscall?: string,
  ) {
    super(message);
  }
}

export const NOT_BUILT_HINT =
  'run `npm ci` (it builds the native addon with node-gyp; needs g++ and make)';

export interface NativeStats {
  rxPackets: number;
  rxBytes: number;
  rxBatches: number;
  /** Packets read but dropped: UDP datagrams larger than maxDatagram, ICMP errors on the socket. */
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  /** Packets the kernel refused (EAGAIN, ENOBUFS, EINVAL, ...): counted, never thrown. */
  txErrors: number;
  /** UDP: messages of several datagrams the kernel cut up (UDP_SEGMENT, runs of one size back to back); 0 elsewhere. */
  txGso: number;
}

/**
 * An ICMP error the kernel reported for a datagram the socket sent (IP_RECVERR / IPV6_RECVERR,
 * native/src/icmp_errors.h): failure map F7 (frag-needed, Packet Too Big) and F1 (unreachable).
 */
export interface IcmpErrorReport {
  /** Where the datagram that caused it went. */
  dst: string | null;
  /** Who sent the ICMP (a router on the path, or the peer); null for errors raised locally. */
  offender: string | null;
  /** ICMP type and code (RFC 792; RFC 4443 for ICMPv6). */
  type: number;
  code: number;
  /** 1: raised by this host (a datagram over the known path MTU), 2: ICMP, 3: ICMPv6 (SO_EE_ORIGIN_*). */
  origin: number;
  /** The next-hop MTU for frag-needed (RFC 1191 §4) and Packet Too Big (RFC 4443 §3.2); 0 otherwise. */
  info: number;
  errno: number;
}

/** One slab's memory, shared with the reader thread. */
export interface NativeSlab {
  buf: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** UDP: 16 bytes per packet, IPv4 as ::ffff:a.b.c.d. */
  addrs?: Uint8Array;
  /** UDP: source port per packet. */
  ports?: Uint16Array;
}

/** cb(slab, count) per batch; cb(-1, 0, error) once if reading fails for good. */
export type NativeBatchCallback = (slab: number, count: number, error?: Error) => void;

/** What every native endpoint class (TunDevice, UdpSocket, RawEspSocket) has. */
export interface NativeEndpoint {
  slabs(): NativeSlab[];
  start(cb: NativeBatchCallback): void;
  stats(): NativeStats;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeTunDevice extends NativeEndpoint {
  name(): string;
  fd(): number;
  /** IFF_VNET_HDR and the TUNSETOFFLOAD flags the kernel took (src/io/tun-offload.ts). */
  offload(): { vnet: boolean; flags: number; errno: number; refused: string };
  /** What the reader thread cut and dropped (src/io/tun-offload.ts OffloadStats); zeros without offloads. */
  offloadStats(): { superPackets: number; segments: number; malformed: number };
  /** ownHeaders: with IFF_VNET_HDR, each packet begins with its virtio_net_hdr (else a zero one is put before it). */
  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, ownHeaders?: boolean): number;
}

export interface NativeUdpSocket extends NativeEndpoint {
  localPort(): number;
  family(): 4 | 6;
  icmpErrors(): IcmpErrorReport[];
  /** Whether UDP_GRO is on; errno why the kernel refused it (0: on, or not asked for). */
  gro(): { on: boolean; errno: number };
  gso(): { on: boolean; errno: number };
  sendBatch(
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    address: string,
    port: number,
  ): number;
}

/**
 * new AeadContext(alg, key without salt, 4-octet salt): two OpenSSL contexts keyed once (seal,
 * open), crypto's InPlaceAead; throws TypeError/RangeError on bad arguments, and its methods
 * throw code ERR_DISPOSED after dispose().
 */
export type NativeAeadConstructor = new (alg: AeadAlg, key: Uint8Array, salt: Uint8Array) => InPlaceAead;

export interface NativeAddon {
  TunDevice: {
    new (name: string, mtu: number, batch: number, slabs: number, offload?: boolean): NativeTunDevice;
    /** The reader's cut of one offloaded read, for tests (src/io/tun-offload.ts cutRead). */
    cut(read: Uint8Array, out: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): number;
  };
  UdpSocket: new (
    address: string,
    port: number,
    batch: number,
    slabs: number,
    maxDatagram: number,
    rcvbuf: number,
    sndbuf: number,
    gro?: boolean,
  ) => NativeUdpSocket;
  /** In-place ESP AEAD (src/io/native-aead.ts); absent from addons built before it. */
  AeadContext?: NativeAeadConstructor;
  /** One datagram to a unix datagram socket ('@' = abstract), sd_notify(3)'s send (src/io/sd-notify.ts); absent from addons built before it. */
  notifySocket?: (path: string, message: string) => void;
}

const ADDON_RELATIVE = 'native/build/Release/tsvpn_native.node';

/** Where the addon is looked for: the repository root from src/io or from dist/src/io. */
export function addonCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '../..', ADDON_RELATIVE), resolve(here, '../../..', ADDON_RELATIVE)];
}

let cached: NativeAddon | undefined;

/** The addon, loaded once. Throws IoError ERR_NATIVE_NOT_BUILT with the fix when missing. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const path = addonCandidates().find((p) => existsSync(p));
  if (!path) {
    throw new IoError(
      `the native addon is not built (${addonCandidates()[0]} is missing): ${NOT_BUILT_HINT}`,
      'ERR_NATIVE_NOT_BUILT',
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as NativeAddon;
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new IoError(
      `the native addon at ${path} does not load (${detail}): ${NOT_BUILT_HINT}`,
      'ERR_NATIVE_LOAD',
    );
  }
  // an addon built from older sources loads but lacks what the code calls: say so at start,
  // not as a TypeError in the middle of a run
  const missing = missingMethods(cached);
  if (missing.length > 0) {
    cached = undefined;
    throw new IoError(`the native addon at ${path} is older than the sources (it has no ${missing.join(', ')}): ${NOT_BUILT_HINT}`, 'ERR_NATIVE_STALE');
  }
  return cached;
}

/** The methods the sources call that this addon lacks ("UdpSocket.icmpErrors"): an addon built from older sources. */
export function missingMethods(addon: unknown): string[] {
  const classes = addon as Record<string, { prototype?: Record<string, unknown> } | undefined>;
  return REQUIRED_METHODS.filter(([cls, method]) => typeof classes[cls]?.prototype?.[method] !== 'function').map(([c, m]) => `${c}.${m}`);
}

/** Methods the sources call that older builds of the addon lack (the newest first). */
const REQUIRED_METHODS: readonly [string, string][] = [
  ['UdpSocket', 'gso'], // UDP_SEGMENT state for status (issue 15)
  ['UdpSocket', 'gro'], // UDP_GRO on the ESP-in-UDP socket (issue 15)
  ['TunDevice', 'offloadStats'], // super-packets cut in the reader thread (issue 15)
  ['TunDevice', 'offload'], // IFF_VNET_HDR and TUNSETOFFLOAD (issue 15)
  ['UdpSocket', 'icmpErrors'], // IP_RECVERR reader (failure map F7)
  ['RawEspSocket', 'icmpErrors'],
];

/** Converts an error thrown by the addon (message, code, errno, syscall) into an IoError. */
export function toIoError(e: unknown): IoError {
  if (e instanceof IoError) return e;
  if (e instanceof Error) {
    const x = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
    const err = new IoError(
      e.message,
      typeof x.code === 'string' ? x.code : 'ERR_NATIVE',
      typeof x.errno === 'number' ? x.errno : undefined,
      typeof x.syscall === 'string' ? x.syscall : undefined,
    );
    err.stack = e.stack?.replace(/^\w*Error/, 'IoError');
    return err;
  }
  return new IoError(String(e), 'ERR_NATIVE');
}

/** Throws IoError ERR_INVALID_ARG unless v is an integer in [lo, hi]. */
export function checkInt(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new IoError(`${what} must be an integer from ${lo} to ${hi}, got ${v}`, 'ERR_INVALID_ARG');
  }
}

/** Calls into the addon, turning its errors into IoError. */
export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toIoError(e);
  }
}

/**
 * A batch of packets in one buffer: packet i is buf[offsets[i], offsets[i] + lengths[i]).
 * Valid only during the onBatch callback: the memory is reused afterwards.
 */
export interface PacketBatch {
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly count: number;
  /** Packet i as a view into buf (no copy); valid only during the callback. */
  packet(i: number): Buffer;
}

/** One reusable batch object per slab (no allocation per batch). */
export class SlabBatch implements PacketBatch {
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  count = 0;
  constructor(slab: NativeSlab) {
    this.buf = slab.buf;
    this.offsets = slab.offsets;
    this.lengths = slab.lengths;
  }
  packet(i: number): Buffer {
    if (!(i >= 0 && i < this.count)) {
      throw new IoError(`packet index ${i} is outside the batch of ${this.count}`, 'ERR_OUT_OF_RANGE');
    }
    const off = this.offsets[i];
    return this.buf.subarray(off, off + this.lengths[i]);
  }
}

/**
 * Wires an endpoint's reader to a user callback: starts the thread on the first onBatch,
 * then forwards batches and the reader's failure.
 */
export class BatchDispatcher<B extends SlabBatch> {
  private onBatchCb: ((batch: B) => void) | undefined;
  private onErrorCb: ((err: IoError) => void) | undefined;
  private started = false;
  lastError: IoError | undefined;

  constructor(
    private readonly endpoint: NativeEndpoint,
    private readonly makeBatch: (slab: NativeSlab) => B,
  ) {}

  onBatch(cb: (batch: B) => void): void {
    this.onBatchCb = cb;
    if (this.started) return;
    const views = native(() => this.endpoint.slabs()).map(this.makeBatch);
    native(() =>
      this.endpoint.start((slab, count, error) => {
        if (slab < 0) return this.fail(toIoError(error));
        const view = views[slab];
        view.count = count;
        this.onBatchCb?.(view);
      }),
    );
    this.started = true;
  }

  onError(cb: (err: IoError) => void): void {
    this.onErrorCb = cb;
  }

  private fail(err: IoError): void {
    this.lastError = err;
    if (!this.onErrorCb) throw err; // like an 'error' event without a listener
    this.onErrorCb(err);
  }
}

/**
 * The part every endpoint wrapper (TUN, UDP, raw ESP) shares: batches through a
 * BatchDispatcher, stats, ref/unref and an idempotent close. Subclasses add their send call.
 */
export abstract class EndpointWrapper<E extends NativeEndpoint, B extends SlabBatch> {
  private readonly dispatcher: BatchDispatcher<B>;
  private isClosed = false;

  constructor(
    protected readonly endpoint: E,
    makeBatch: (slab: NativeSlab) => B,
  ) {
    this.dispatcher = new BatchDispatcher(endpoint, makeBatch);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get stats(): NativeStats {
    return this.endpoint.stats();
  }

  get lastError(): IoError | undefined {
    return this.dispatcher.lastError;
  }

  onBatch(cb: (batch: B) => void): void {
    this.dispatcher.onBatch(cb);
  }

  onError(cb: (err: IoError) => void): void {
    this.dispatcher.onError(cb);
  }

  ref(): void {
    this.endpoint.ref();
  }

  unref(): void {
    this.endpoint.unref();
  }

  close(): void {
    this.isClosed = true;
    this.endpoint.close();
  }
}
