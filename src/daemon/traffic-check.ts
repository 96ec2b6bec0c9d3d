// Failure map F5 from the SA counters: "SAs up but no data" when outbound packets move on a
// Child SA, none come back on it, and the peer still answers IKE (a liveness check, RFC 7296
// §2.4). Then IKE gets through and ESP does not: ESP (IP protocol 50, or UDP 4500) is
// blocked on the path, or the peer's inner firewall or return route eats the traffic. A pure
// decision over two samples of the counters, taken by the daemon's periodic check.

/** One Child SA's counters at one time (status's packetsOut / packetsIn). */
export interface ChildSample {
  /** Our inbound SPI (hex): a rekeyed SA is a new key, with new counters. */
  spiIn: string;
  /** The connection and Child SA names, for the evidence. */
  conn: string;
  child: string;
  packetsOut: number;
  packetsIn: number;
  /** When its IKE SA last heard an authenticated IKE message from the peer (ms), if ever. */
  ikeHeardAt: number | undefined;
  /** How long a peer that answers liveness checks may stay silent over IKE (ms): the window plus the DPD delay. */
  heardWithinMs: number;
}

export interface TrafficSample {
  at: number; // ms
  children: readonly ChildSample[];
}

/** The evidence of one F5 found from the counters (status lastFailure.evidence). */
export interface FlatInbound {
  conn: string;
  child: string;
  spiIn: string;
  outboundDelta: number;
  inboundDelta: number;
  windowS: number;
  ikeLastHeardS: number;
  hint: string;
}

// Implementation choice: fewer than this many packets out in a window is too little to call (a lone probe, a TCP keepalive).
export const FLAT_INBOUND_MIN_OUT = 5;

export const FLAT_INBOUND_HINT = 'ESP (IP protocol 50, or UDP 4500 when NAT-T encapsulates it) is blocked on the path while IKE gets through, or the peer drops the inner traffic (its firewall) or routes the answers elsewhere (its return route)';

export interface TrafficVerdict {
  /** Child SAs newly found flat this window: one F5 each. */
  found: FlatInbound[];
  /** Child SAs (spiIn) flat now: found earlier or this window; the next check's `flagged`. */
  flagged: Set<string>;
  /** Child SAs that were flagged and whose inbound moved again. */
  recovered: string[];
}

/**
 * Compares two samples a window apart. A Child SA is flat when it sent more than `minOut`
 * packets in the window, received none, and its IKE SA heard from the peer recently enough
 * (`heardWithinMs` before `cur.at`): the peer is alive, only the data does not come back.
 * Each flat Child SA is reported once until its inbound moves again.
 */
export function checkTraffic(prev: TrafficSample, cur: TrafficSample, flagged: ReadonlySet<string>, minOut = FLAT_INBOUND_MIN_OUT): TrafficVerdict {
  const before = new Map(prev.children.map((c) => [c.spiIn, c]));
  const found: FlatInbound[] = [];
  const now = new Set<string>();
  const recovered: string[] = [];
  for (const c of cur.children) {
    const b = before.get(c.spiIn);
    if (!b) continue; // new this window (installed or rekeyed): nothing to compare with
    const outDelta = c.packetsOut - b.packetsOut;
    const inDelta = c.packetsIn - b.packetsIn;
    if (inDelta > 0) {
      if (flagged.has(c.spiIn)) recovered.push(c.spiIn);
      continue;
    }
    if (flagged.has(c.spiIn)) {
      now.add(c.spiIn); // still nothing back: reported already
      continue;
    }
    const heard = c.ikeHeardAt !== undefined && cur.at - c.ikeHeardAt <= c.heardWithinMs;
    if (outDelta <= minOut || !heard) continue;
    now.add(c.spiIn);
    found.push({
      conn: c.conn,
      child: c.child,
      spiIn: c.spiIn,
      outboundDelta: outDelta,
      inboundDelta: inDelta,
      windowS: Math.round((cur.at - prev.at) / 1000),
      ikeLastHeardS: Math.round((cur.at - c.ikeHeardAt!) / 1000),
      hint: FLAT_INBOUND_HINT,
    });
  }
  return { found, flagged: now, recovered };
}
