// The UDP side of the tunnel: IKE on port 500, and on port 4500 (RFC 3948) IKE behind the
// non-ESP marker, NAT-keepalives and UDP-encapsulated ESP on one socket. Incoming 4500
// datagrams are sorted per batch: IKE is copied out (the state machine keeps messages),
// ESP views are handed to the datapath in one array (no copy, valid during the callback).
import { readFileSync } from 'node:fs';
import type { Endpoint } from '../ike/config.js';
import type { Path } from '../ike/ike-sa.js';
import { openUdpBatch, type UdpBatch, type UdpBatchSocket } from '../io/udp-batch.js';
import { IoError } from '../io/native.js';
import { IKE_PORT, NAT_T_PORT } from '../wire/constants.js';
import { NAT_KEEPALIVE, NON_ESP_MARKER, classifyNatT } from '../wire/natt.js';

export interface IkeIoStats {
  /** IKE datagrams received (both ports). */
  ikeIn: number;
  ikeOut: number;
  /** RFC 3948 §2.3 NAT-keepalives received and sent. */
  keepalivesIn: number;
  keepalivesOut: number;
  /** ESP datagrams received on port 4500. */
  espIn: number;
  /** Datagrams on 4500 that are neither keepalive, marked IKE nor ESP (too short, bad marker). */
  invalid: number;
  /** Datagrams the kernel refused to send (also in the socket's txErrors). */
  sendErrors: number;
}

export const newIkeIoStats = (): IkeIoStats => ({ ikeIn: 0, ikeOut: 0, keepalivesIn: 0, keepalivesOut: 0, espIn: 0, invalid: 0, sendErrors: 0 });

/**
 * A copy the IKE SA may keep (it stores messages for retransmit detection and AUTH). The
 * batch memory is reused after the callback, and Buffer#slice would only make a view.
 */
const copyOf = (view: Uint8Array): Uint8Array => new Uint8Array(view);

/** The part of a received batch the demultiplexer reads (a UdpBatch, or a fake in tests). */
export interface DatagramBatch {
  readonly count: number;
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  srcAddress(i: number): string;
  srcPort(i: number): number;
}

export interface DemuxSink {
  /** One IKE message (marker removed, a copy the callee may keep), with its path. */
  ike(bytes: Uint8Array, path: Path): void;
  /** The ESP datagrams of one batch, views valid only during the call. */
  esp(packets: Uint8Array[]): void;
}

/**
 * Sorts one batch from port 4500 (RFC 3948 §2.1-§2.3), counting what it drops. `scratch`
 * is the caller's reusable array for the ESP views.
 */
export function demuxNatT(b: DatagramBatch, local: Endpoint, stats: IkeIoStats, sink: DemuxSink, scratch: Uint8Array[] = []): void {
  scratch.length = 0;
  for (let i = 0; i < b.count; i++) {
    const off = b.offsets[i];
    const d = b.buf.subarray(off, off + b.lengths[i]);
    switch (classifyNatT(d)) {
      case 'esp':
        scratch.push(d);
        break;
      case 'keepalive':
        stats.keepalivesIn++; // RFC 3948 §2.3: the receiver ignores it
        break;
      case 'ike':
        stats.ikeIn++;
        // RFC 3948 §2.2: strip the non-ESP marker; the rest is the IKE message
        sink.ike(copyOf(d.subarray(NON_ESP_MARKER.length)), { from: { addr: b.srcAddress(i), port: b.srcPort(i) }, to: { ...local } });
        break;
      default:
        stats.invalid++;
    }
  }
  stats.espIn += scratch.length;
  if (scratch.length > 0) sink.esp(scratch);
}

/** Is a UDP port bound in this network namespace (/proc/net/udp, udp6)? */
export function udpPortInUse(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    // "sl local_address rem_address ...": the local address column ends in :PORT
    for (const line of text.split('\n').slice(1)) if (line.trim().split(/\s+/)[1]?.endsWith(hex.trim())) return true;
  }
  return false;
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export interface IkeIoOptions {
  local: string;
  /** Ports to bind (defaults 500 and 4500; tests pass 0 for kernel-chosen ones). */
  ports?: { ike: number; natt: number };
  onIke: (bytes: Uint8Array, path: Path) => void;
  onEsp: (packets: Uint8Array[]) => void;
  onError: (e: IoError) => void;
}

/** The two IKE sockets. Throws PortInUseError naming the port when another program holds it. */
export class IkeIo {
  readonly stats = newIkeIoStats();
  readonly ike: UdpBatchSocket;
  readonly natt: UdpBatchSocket;
  private readonly local: string;
  private readonly espScratch: Uint8Array[] = [];
  private readonly one = { off: new Uint32Array(1), len: new Uint32Array(1) };

  constructor(o: IkeIoOptions) {
    this.local = o.local;
    const ports = o.ports ?? { ike: IKE_PORT, natt: NAT_T_PORT };
    for (const p of [ports.ike, ports.natt]) {
      // the addon binds with SO_REUSEADDR, which would silently share a port with another IKE daemon
      if (p !== 0 && udpPortInUse(p)) throw new PortInUseError(`UDP port ${p} is already in use (another IKE daemon such as charon or tsvpn?)`);
    }
    this.ike = openUdpBatch({ address: o.local, port: ports.ike, batch: 16 });
    try {
      this.natt = openUdpBatch({ address: o.local, port: ports.natt, batch: 64, slabs: 8, rcvbuf: 4 << 20, sndbuf: 4 << 20 });
    } catch (e) {
      this.ike.close();
      throw e;
    }
    const ikeLocal = { addr: o.local, port: this.ike.localPort };
    const nattLocal = { addr: o.local, port: this.natt.localPort };
    this.ike.onBatch((b: UdpBatch) => {
      for (let i = 0; i < b.count; i++) {
        this.stats.ikeIn++;
        const off = b.offsets[i];
        o.onIke(copyOf(b.buf.subarray(off, off + b.lengths[i])), { from: { addr: b.srcAddress(i), port: b.srcPort(i) }, to: ikeLocal });
      }
    });
    const sink: DemuxSink = { ike: o.onIke, esp: o.onEsp };
    this.natt.onBatch((b: UdpBatch) => demuxNatT(b, nattLocal, this.stats, sink, this.espScratch));
    this.ike.onError(o.onError);
    this.natt.onError(o.onError);
  }

  /** Send one IKE message; on port 4500 it goes behind the non-ESP marker (RFC 3948 §2.2). */
  sendIke(bytes: Uint8Array, to: Endpoint, from: Endpoint): void {
    const natt = from.port === this.natt.localPort || from.port === NAT_T_PORT || to.port === NAT_T_PORT;
    let data = bytes;
    if (natt) {
      data = new Uint8Array(NON_ESP_MARKER.length + bytes.length); // zero-filled: the marker
      data.set(bytes, NON_ESP_MARKER.length);
    }
    this.stats.ikeOut++;
    this.sendOne(natt ? this.natt : this.ike, data, to);
  }

  /** RFC 3948 §2.3: one 0xFF byte from port 4500 keeps the NAT mapping open. */
  sendKeepalive(to: Endpoint): void {
    this.stats.keepalivesOut++;
    this.sendOne(this.natt, NAT_KEEPALIVE, to);
  }

  /** UDP-encapsulated ESP (RFC 3948 §2.1): packets i < count of buf, one destination. */
  sendEsp(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, to: Endpoint): number {
    const sent = this.natt.sendBatch(buf, offsets, lengths, count, to.addr, to.port);
    if (sent < count) this.stats.sendErrors += count - sent;
    return sent;
  }

  close(): void {
    this.ike.close();
    this.natt.close();
  }

  get localAddress(): string {
    return this.local;
  }

  private sendOne(sock: UdpBatchSocket, data: Uint8Array, to: Endpoint): void {
    this.one.len[0] = data.length;
    try {
      if (sock.sendBatch(data, this.one.off, this.one.len, 1, to.addr, to.port) < 1) this.stats.sendErrors++;
    } catch {
      this.stats.sendErrors++;
    }
  }
}
