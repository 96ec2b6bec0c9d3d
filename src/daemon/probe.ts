// The control socket's `probe` (read-only, for `tsvpn diagnose`): ICMP echo requests sealed
// into a Child SA as if they came from the TUN, from an address inside its local selector to
// the first host of its remote one, and the echo replies ESP delivered for them, matched
// before they reach the TUN. A reply proves both directions of the Child SA, the peer's
// routing back into its tunnel and its inner firewall; sizes up to the TUN MTU with DF find
// the largest packet the outer path carries (F7). Nothing is configured or changed.
import { echoReplySeq, echoRequest, minEchoSize, probeHost } from '../ipsec/icmp-echo.js';
import { bytesToIp } from '../wire/ip-text.js';
import { ipToBytes, parseSelector } from '../wire/selectors.js';

export interface ProbeRequest {
  /** The connection (default: the first with an installed Child SA). */
  conn?: string;
  /** Total IP packet size in bytes (default 84, ping's). */
  size: number;
  /** Echo requests to send, 1 to 10 (default 3). */
  count: number;
  /** How long to wait for the replies, 100 to 5000 ms (default 1000). */
  timeoutMs: number;
}

export interface ProbeResult {
  conn: string;
  child: string;
  src: string;
  dst: string;
  size: number;
  /** The TUN MTU: larger probes are not sent (the datapath would answer them with ICMP, F7). */
  mtu: number;
  sent: number;
  received: number;
  /** Round trip of the first reply, ms. */
  rttMs?: number;
}

/** A Child SA as the probe picks one. */
export interface ProbeCandidate {
  conn: string;
  child: string;
  state: string;
  localTs: readonly string[];
  remoteTs: readonly string[];
  /** The host's own addresses inside local.ts (daemon/host.ts routeSources). */
  src: readonly string[];
}

const DEFAULT_SIZE = 84; // ping(8): 56 bytes of data + 8 ICMP + 20 IPv4
const int = (v: unknown, dflt: number, lo: number, hi: number, what: string): number => {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new Error(`probe: ${what} must be an integer from ${lo} to ${hi}`);
  return v;
};

/** The request's fields checked (throws with the field that is wrong). */
export function parseProbeRequest(req: Record<string, unknown>): ProbeRequest {
  if (req.conn !== undefined && typeof req.conn !== 'string') throw new Error('probe: conn must be a connection name');
  return {
    ...(typeof req.conn === 'string' ? { conn: req.conn } : {}),
    size: int(req.size, DEFAULT_SIZE, minEchoSize(4), 65535, 'size'),
    count: int(req.count, 3, 1, 10, 'count'),
    timeoutMs: int(req.timeoutMs, 1000, 100, 5000, 'timeoutMs'),
  };
}

/** Where a probe goes: the first installed Child SA (of `conn` if named) and its addresses, or why there is none. */
export function probeTarget(cands: readonly ProbeCandidate[], conn: string | undefined): { conn: string; child: string; src: Uint8Array; dst: Uint8Array } | { error: string } {
  const mine = cands.filter((c) => conn === undefined || c.conn === conn);
  if (mine.length === 0) return { error: conn === undefined ? 'no Child SA is installed' : `connection ${conn} has no Child SA installed` };
  for (const c of mine) {
    if (c.state !== 'INSTALLED') continue;
    for (const r of c.remoteTs) {
      const remote = parseSelector(r);
      const family = remote.startAddr.length;
      const own = c.src.find((a) => ipToBytes(a).length === family);
      const local = c.localTs.map(parseSelector).find((l) => l.startAddr.length === family);
      if (!local) continue;
      return { conn: c.conn, child: c.child, src: own ? ipToBytes(own) : probeHost(local), dst: probeHost(remote) };
    }
  }
  return { error: `no installed Child SA${conn === undefined ? '' : ` of ${conn}`} has local and remote selectors of one family` };
}

export interface ProbeIo {
  /** Seal and send packets as if read from the TUN. */
  inject(packets: readonly Uint8Array[]): void;
  /** Be shown (or stop being shown, undefined) each packet ESP delivers. */
  watch(fn: ((p: Uint8Array) => void) | undefined): void;
  now(): number;
}

/** Sends the echo requests and waits for their replies (or the timeout). */
export async function sendProbe(io: ProbeIo, t: { conn: string; child: string; src: Uint8Array; dst: Uint8Array }, r: ProbeRequest, mtu: number, id: number): Promise<ProbeResult> {
  const base: ProbeResult = { conn: t.conn, child: t.child, src: bytesToIp(t.src), dst: bytesToIp(t.dst), size: r.size, mtu, sent: 0, received: 0 };
  if (r.size < minEchoSize(t.src.length === 16 ? 6 : 4)) throw new Error(`probe: size ${r.size} is below the smallest echo request`);
  if (r.size > mtu) return base;
  const got = new Set<number>();
  const start = io.now();
  let rtt: number | undefined;
  let wake: (() => void) | undefined;
  io.watch((p) => {
    const seq = echoReplySeq(p, id);
    if (seq === undefined || seq < 1 || seq > r.count || got.has(seq)) return;
    got.add(seq);
    rtt ??= io.now() - start;
    if (got.size === r.count) wake?.();
  });
  try {
    const reqs: Uint8Array[] = [];
    for (let seq = 1; seq <= r.count; seq++) reqs.push(echoRequest(t.src, t.dst, r.size, id, seq));
    io.inject(reqs);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, r.timeoutMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  } finally {
    io.watch(undefined);
  }
  return { ...base, sent: r.count, received: got.size, ...(rtt !== undefined ? { rttMs: rtt } : {}) };
}
