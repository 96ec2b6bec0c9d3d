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

// ---- SPD misses ------------------------------------------------------------------------

/** An F5 from outbound packets no SPD entry matched (RFC 4301 §5.1), for one destination. */
export interface PolicyMiss {
  src: string;
  dst: string;
  protocol: number;
  /** `no-policy` drops counted in the window, all destinations. */
  misses: number;
  windowS: number;
  /** The remote selector of that family closest to the destination (the one it contains it, if any). */
  nearestSelector: string;
  hint: string;
}

// Implementation choice: fewer misses than this in a window is noise (the kernel's first packet into a new TUN, a stray probe).
export const POLICY_MISS_MIN = 3;

/** Multicast, broadcast and link-local destinations: the host's own chatter into the TUN, not a user's traffic. */
function chatter(dst: Uint8Array): boolean {
  if (dst.length === 4) return dst[0] >= 224 || (dst[0] === 169 && dst[1] === 254);
  return dst[0] === 0xff || (dst[0] === 0xfe && (dst[1] & 0xc0) === 0x80);
}

/** Leading bits two addresses of one family share. */
function commonBits(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ^ b[i];
    if (x === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(x) - 24;
  }
  return n;
}

const inside = (a: Uint8Array, s: { startAddr: Uint8Array; endAddr: Uint8Array }): boolean => a.length === s.startAddr.length && Buffer.compare(a, s.startAddr) >= 0 && Buffer.compare(a, s.endAddr) <= 0;

/**
 * F5 when `no-policy` drops recur (at least `min` in the window) for a destination of a family
 * the tunnel carries: a route sends it into the TUN but no Child SA's selectors cover it. One
 * finding per check (the newest such destination), each destination once until `reported`
 * forgets it; the caller keeps `reported` bounded.
 */
export function checkPolicyMisses(o: {
  prevTotal: number;
  total: number;
  windowStart: number;
  now: number;
  recent: readonly { src: Uint8Array; dst: Uint8Array; protocol: number; at: number }[];
  remote: readonly { text: string; startAddr: Uint8Array; endAddr: Uint8Array }[];
  local: readonly { text: string; startAddr: Uint8Array; endAddr: Uint8Array }[];
  reported: ReadonlySet<string>;
  format: (a: Uint8Array) => string;
  min?: number;
}): PolicyMiss | undefined {
  const misses = o.total - o.prevTotal;
  if (misses < (o.min ?? POLICY_MISS_MIN)) return undefined;
  for (let i = o.recent.length - 1; i >= 0; i--) {
    const m = o.recent[i]!;
    if (m.at <= o.windowStart || chatter(m.dst)) continue;
    const family = o.remote.filter((s) => s.startAddr.length === m.dst.length);
    if (family.length === 0) continue;
    const dst = o.format(m.dst);
    if (o.reported.has(dst)) continue;
    const within = family.find((s) => inside(m.dst, s));
    const nearest = within ?? family.reduce((a, b) => (commonBits(b.startAddr, m.dst) > commonBits(a.startAddr, m.dst) ? b : a));
    const src = o.format(m.src);
    const hint = within
      ? `${dst} is inside remote.ts ${within.text}, but the source ${src} is outside local.ts (${o.local.map((s) => s.text).join(', ')}): send from an address inside it, or widen local.ts on both ends`
      : `a route sends ${dst} into the TUN, but it is outside every remote selector (nearest ${nearest.text}): widen remote.ts on both ends, or fix the route`;
    return { src, dst, protocol: m.protocol, misses, windowS: Math.round((o.now - o.windowStart) / 1000), nearestSelector: nearest.text, hint };
  }
  return undefined;
}
