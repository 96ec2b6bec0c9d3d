// The tunnel's UDP sockets: IKE on port 500, and port 4500 (RFC 3948), where IKE behind
// the non-ESP marker, NAT-keepalives and UDP-encapsulated ESP share one socket and are
// told apart by natt-demux.ts. Sends IKE (with the marker on 4500), keepalives, and ESP in
// batches to one destination.
import { readFileSync } from 'node:fs';
import type { Endpoint } from '../ike/config.js';
import type { Path } from '../ike/ike-sa.js';
import { openUdpBatch, type UdpBatch, type UdpBatchSocket } from '../io/udp-batch.js';
import type { IcmpErrorReport, IoError } from '../io/native.js';
import { IKE_PORT, NAT_T_PORT } from '../wire/constants.js';
import { ipToBytes } from '../wire/selectors.js';
import { NAT_KEEPALIVE, NON_ESP_MARKER } from '../wire/natt.js';
import { copyOf, demuxNatT, newNatTDemuxStats, type DemuxSink, type NatTDemuxStats } from './natt-demux.js';

/** The demultiplexer's counts (its `ikeIn` also counts port 500), and what was sent. */
export interface UdpIoStats extends NatTDemuxStats {
  /** IKE datagrams sent. */
  ikeOut: number;
  /** RFC 3948 §2.3 NAT-keepalives sent. */
  keepalivesOut: number;
  /** Datagrams the kernel refused to send (also in the socket's txErrors). */
  sendErrors: number;
}

export const newUdpIoStats = (): UdpIoStats => ({ ...newNatTDemuxStats(), ikeOut: 0, keepalivesOut: 0, sendErrors: 0 });

/**
 * Is UDP `port` taken for `address` in this network namespace (/proc/net/udp, udp6)? A socket
 * on the same address or on the wildcard holds it; binding the wildcard needs it free on
 * every address. Two daemons on distinct addresses of one host do not collide.
 */
export function udpPortInUse(port: number, address: string): boolean {
  const mine = ipToBytes(address);
  const wildcard = (b: Uint8Array) => b.every((x) => x === 0);
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    // "sl local_address rem_address ...": local_address is ADDR:PORT in hex, the address in host (little-endian) 32-bit words
    for (const line of text.split('\n').slice(1)) {
      const m = /^([0-9A-F]+):([0-9A-F]{4})$/.exec(line.trim().split(/\s+/)[1] ?? '');
      if (!m || parseInt(m[2]!, 16) !== port) continue;
      const bound = procAddress(m[1]!);
      if (wildcard(bound) || wildcard(mine) || (bound.length === mine.length && bound.every((b, i) => b === mine[i]))) return true;
    }
  }
  return false;
}

/** /proc/net/udp's address column (8 or 32 hex digits, each 32-bit word little-endian) as bytes. */
function procAddress(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let w = 0; w < out.length / 4; w++) for (let k = 0; k < 4; k++) out[w * 4 + k] = parseInt(hex.slice(w * 8 + (3 - k) * 2, w * 8 + (3 - k) * 2 + 2), 16);
  return out;
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export interface UdpIoOptions {
  local: string;
  /** Ports to bind (defaults 500 and 4500; tests pass 0 for kernel-chosen ones). */
  ports?: { ike: number; natt: number };
  onIke: (bytes: Uint8Array, path: Path) => void;
  /** ESP from one source (the peer's current NAT mapping, or a new one: F8). */
  onEsp: (packets: Uint8Array[], from: Endpoint) => void;
  onError: (e: IoError) => void;
  /** A NAT-keepalive arrived on 4500 from `from` (a hint of a new NAT mapping, F8). */
  onKeepalive?: (from: Endpoint) => void;
}

/** The sockets on ports 500 and 4500. Throws PortInUseError naming the port when another program holds it. */
export class UdpIo {
  readonly stats = newUdpIoStats();
  readonly ike: UdpBatchSocket;
  readonly natt: UdpBatchSocket;
  private readonly local: string;
  private readonly espScratch: Uint8Array[] = [];
  private readonly one = { off: new Uint32Array(1), len: new Uint32Array(1) };

  constructor(o: UdpIoOptions) {
    this.local = o.local;
    const ports = o.ports ?? { ike: IKE_PORT, natt: NAT_T_PORT };
    for (const p of [ports.ike, ports.natt]) {
      // the addon binds with SO_REUSEADDR, which would silently share a port with another IKE daemon
      if (p !== 0 && udpPortInUse(p, o.local)) throw new PortInUseError(`UDP port ${p} is already in use on ${o.local} (another IKE daemon such as charon or tsvpn?)`);
    }
    this.ike = openUdpBatch({ address: o.local, port: ports.ike, batch: 16 });
    try {
      // UDP GRO: a run of ESP datagrams from the peer comes up in one piece (cut apart in the addon)
      this.natt = openUdpBatch({ address: o.local, port: ports.natt, batch: 64, slabs: 8, rcvbuf: 4 << 20, sndbuf: 4 << 20, gro: true });
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
    const sink: DemuxSink = { ike: o.onIke, esp: o.onEsp, keepalive: o.onKeepalive };
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

  /** The 4500 socket's offloads, `gso on, gro on` or what is off and why: the log line at start and status. */
  get udpOffload(): string {
    return this.natt.closed ? 'closed' : `${this.natt.gso.text}, ${this.natt.gro.text}`;
  }

  /** ICMP errors for what both sockets sent since the last call (path MTU, F7; unreachable, F1). */
  icmpErrors(): IcmpErrorReport[] {
    return [...this.ike.icmpErrors(), ...this.natt.icmpErrors()];
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
