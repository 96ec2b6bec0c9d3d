// RFC 3948 §2: IKE and UDP-encapsulated ESP share UDP port 4500. A datagram there is a
// NAT-keepalive (one 0xFF byte, §2.3), IKE behind the four-zero-byte non-ESP marker (§2.2),
// or ESP (a non-zero SPI first, §2.1). Sorted per received batch: IKE is copied out (the
// state machine keeps messages), ESP views are handed on in one array (no copy, valid
// during the call), and what is neither is counted.
import type { Endpoint } from '../ike/config.js';
import type { Path } from '../ike/ike-sa.js';
import { NON_ESP_MARKER, classifyNatT } from '../wire/natt.js';

/** What the demultiplexer counts (part of the UDP sockets' stats). */
export interface NatTDemuxStats {
  /** IKE datagrams received. */
  ikeIn: number;
  /** RFC 3948 §2.3 NAT-keepalives received. */
  keepalivesIn: number;
  /** ESP datagrams received on port 4500. */
  espIn: number;
  /** Datagrams on 4500 that are neither keepalive, marked IKE nor ESP (too short, bad marker). */
  invalid: number;
}

export const newNatTDemuxStats = (): NatTDemuxStats => ({ ikeIn: 0, keepalivesIn: 0, espIn: 0, invalid: 0 });

/**
 * A copy the IKE SA may keep (it stores messages for retransmit detection and AUTH). The
 * batch memory is reused after the callback, and Buffer#slice would only make a view.
 */
export const copyOf = (view: Uint8Array): Uint8Array => new Uint8Array(view);

/** The part of a received batch the demultiplexer reads (a UdpBatch, or a fake in tests). */
export interface DatagramBatch {
  readonly count: number;
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  srcAddress(i: number): string;
  srcPort(i: number): number;
  /** The sources as the addon fills them (16 bytes per datagram): compared without making text. */
  readonly srcAddrs?: Uint8Array;
  /** The source ports as the addon fills them: read without a call per datagram. */
  readonly srcPorts?: Uint16Array;
}

/** Do datagrams i and j come from the same address and port? (Per ESP datagram: no call, no view, no text when the arrays are there.) */
function sameSource(b: DatagramBatch, i: number, j: number): boolean {
  const a = b.srcAddrs;
  const ports = b.srcPorts;
  if (!a || !ports) return b.srcPort(i) === b.srcPort(j) && b.srcAddress(i) === b.srcAddress(j);
  if (ports[i] !== ports[j]) return false;
  // the last octets first: IPv4 sources differ there (the first 12 are the ::ffff: prefix)
  for (let k = 15; k >= 0; k--) if (a[i * 16 + k] !== a[j * 16 + k]) return false;
  return true;
}

export interface DemuxSink {
  /** One IKE message (marker removed, a copy the callee may keep), with its path. */
  ike(bytes: Uint8Array, path: Path): void;
  /** ESP datagrams of one batch from one source (`from`: the peer's NAT mapping, F8), views valid only during the call. */
  esp(packets: Uint8Array[], from: Endpoint): void;
  /** A NAT-keepalive arrived from `from` (unauthenticated: a hint only). */
  keepalive?(from: Endpoint): void;
}

/**
 * Sorts one batch from port 4500 (RFC 3948 §2.1-§2.3), counting what it drops. `scratch`
 * is the caller's reusable array for the ESP views.
 */
export function demuxNatT(b: DatagramBatch, local: Endpoint, stats: NatTDemuxStats, sink: DemuxSink, scratch: Uint8Array[] = []): void {
  scratch.length = 0;
  let source = -1; // the datagram whose source the ESP in scratch shares
  const flush = (): void => {
    if (scratch.length === 0) return;
    stats.espIn += scratch.length;
    sink.esp(scratch, { addr: b.srcAddress(source), port: b.srcPort(source) });
    scratch.length = 0;
  };
  for (let i = 0; i < b.count; i++) {
    const off = b.offsets[i];
    const d = b.buf.subarray(off, off + b.lengths[i]);
    switch (classifyNatT(d)) {
      case 'esp':
        // one call per run of ESP from one source (one peer: one call per batch)
        if (source >= 0 && scratch.length > 0 && !sameSource(b, source, i)) flush();
        if (scratch.length === 0) source = i;
        scratch.push(d);
        break;
      case 'keepalive':
        stats.keepalivesIn++; // RFC 3948 §2.3: the receiver ignores it (but a new source hints at a new NAT mapping, F8)
        sink.keepalive?.({ addr: b.srcAddress(i), port: b.srcPort(i) });
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
  flush();
}
