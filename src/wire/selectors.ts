// Traffic selectors (RFC 7296 §2.9, §3.13.1): text <-> TrafficSelector records, the
// responder's narrowing, matching of packets against a selector list (the SPD's lookup),
// and ranges as CIDR prefixes (for routes). Pure: no I/O, no keys.
// Text follows swanctl: `203.0.113.0/25`, `203.0.113.5`, `192.0.2.10-192.0.2.20`,
// `2001:db8::/32`, with an optional `[proto/port]` suffix: `[tcp/443]`, `[udp/1024-2048]`, `[icmp/8]`.
import { IpProtocol, TsType } from './constants.js';
import type { TrafficSelector } from './types.js';
import { bytesToIp, parseIp } from './ip-text.js';

export class SelectorSyntaxError extends Error {
  override readonly name = 'SelectorSyntaxError';
  constructor(
    /** the whole selector text as given */
    readonly input: string,
    /** the part of it that is wrong */
    readonly token: string,
    detail: string,
  ) {
    super(`traffic selector '${input}': ${detail}`);
  }
}

// ---------------------------------------------------------------------------------------
// IP addresses

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address from text; throws SelectorSyntaxError. */
export function ipToBytes(text: string): Uint8Array {
  const t = text.trim();
  const v = parseIp(t);
  if (!v) throw new SelectorSyntaxError(text, text, `'${text}' is not an IPv4 or IPv6 address`);
  return v;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** The prefix length if [start, end] is exactly one CIDR block, else -1. */
function prefixLength(start: Uint8Array, end: Uint8Array): number {
  let len = 0;
  let i = 0;
  for (; i < start.length && start[i] === end[i]; i++) len += 8;
  if (i === start.length) return len;
  const diff = start[i] ^ end[i];
  // the differing bits must be a run of trailing ones, 0 in start and 1 in end
  if ((diff & (diff + 1)) !== 0 || (start[i] & diff) !== 0) return -1;
  len += 8 - Math.log2(diff + 1);
  for (i++; i < start.length; i++) if (start[i] !== 0 || end[i] !== 0xff) return -1;
  return len;
}

/** The first and last address of the `len`-bit prefix that holds `addr` (its network and broadcast). */
export function prefixRange(addr: Uint8Array, len: number): [Uint8Array, Uint8Array] {
  const start = new Uint8Array(addr.length);
  const end = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    const mask = (0xff << (8 - bits)) & 0xff;
    start[i] = addr[i] & mask;
    end[i] = start[i] | (~mask & 0xff);
  }
  return [start, end];
}

// ---------------------------------------------------------------------------------------
// Protocols and ports

const PROTOCOL_NAMES: Record<string, number> = {
  any: IpProtocol.ANY,
  '%any': IpProtocol.ANY,
  icmp: IpProtocol.ICMP,
  tcp: IpProtocol.TCP,
  udp: IpProtocol.UDP,
  gre: 47,
  esp: IpProtocol.ESP,
  'ipv6-icmp': IpProtocol.ICMPV6,
  icmpv6: IpProtocol.ICMPV6,
  sctp: 132,
};
const PROTOCOL_TEXT: Record<number, string> = { 0: 'any', 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 58: 'ipv6-icmp', 132: 'sctp' };
const isIcmp = (p: number) => p === IpProtocol.ICMP || p === IpProtocol.ICMPV6;

function parseNumber(input: string, token: string, max: number, what: string): number {
  if (!/^\d{1,5}$/.test(token) || Number(token) > max) {
    throw new SelectorSyntaxError(input, token, `'${token}' is not a valid ${what} (0-${max})`);
  }
  return Number(token);
}

function parseProtoPort(input: string, inner: string): { ipProtocol: number; startPort: number; endPort: number } {
  const [protoText, portText, ...rest] = inner.split('/');
  if (rest.length > 0) throw new SelectorSyntaxError(input, inner, `'[${inner}]' has more than one '/'`);
  const name = protoText.trim().toLowerCase();
  const ipProtocol = name in PROTOCOL_NAMES ? PROTOCOL_NAMES[name] : parseNumber(input, name, 255, 'IP protocol');
  if (portText === undefined) return { ipProtocol, startPort: 0, endPort: 0xffff };
  const port = portText.trim().toLowerCase();
  if (port === '' || port === 'any' || port === '%any') return { ipProtocol, startPort: 0, endPort: 0xffff };
  if (isIcmp(ipProtocol)) {
    // RFC 7296 §3.13.1 / RFC 4301 §4.4.1.1: ICMP Type is the high octet of the 16-bit "port".
    const type = parseNumber(input, port, 255, 'ICMP type');
    return { ipProtocol, startPort: type << 8, endPort: (type << 8) | 0xff };
  }
  const [a, b, ...more] = port.split('-');
  if (more.length > 0) throw new SelectorSyntaxError(input, port, `'${port}' is not a port or port range`);
  const startPort = parseNumber(input, a, 0xffff, 'port');
  const endPort = b === undefined ? startPort : parseNumber(input, b, 0xffff, 'port');
  if (endPort < startPort) throw new SelectorSyntaxError(input, port, `port range '${port}' ends before it starts`);
  return { ipProtocol, startPort, endPort };
}

// ---------------------------------------------------------------------------------------
// Text <-> record

/**
 * Parse one selector: an address, prefix or `a-b` range with an optional `[proto/port]`;
 * `[udp]` alone means 0.0.0.0/0 with that protocol. `dynamic` is resolved by the
 * configuration layer (it needs the tunnel's addresses) and is refused here.
 */
export function parseSelector(text: string): TrafficSelector {
  const src = text.trim();
  if (src === '') throw new SelectorSyntaxError(text, '', 'is empty');
  if (src.toLowerCase() === 'dynamic') {
    throw new SelectorSyntaxError(text, src, "'dynamic' must be replaced by the tunnel address before parsing");
  }
  const open = src.indexOf('[');
  let addrText = src;
  let pp = { ipProtocol: 0, startPort: 0, endPort: 0xffff };
  if (open >= 0) {
    if (!src.endsWith(']') || src.indexOf('[', open + 1) >= 0) {
      throw new SelectorSyntaxError(text, src.slice(open), `'${src.slice(open)}' is not of the form [proto/port]`);
    }
    pp = parseProtoPort(text, src.slice(open + 1, -1));
    addrText = src.slice(0, open).trim();
  }
  if (addrText === '') addrText = '0.0.0.0/0';
  let startAddr: Uint8Array;
  let endAddr: Uint8Array;
  const slash = addrText.indexOf('/');
  const dash = addrText.indexOf('-');
  const addr = (s: string) => {
    try {
      return ipToBytes(s);
    } catch {
      throw new SelectorSyntaxError(text, s, `'${s}' is not an IPv4 or IPv6 address`);
    }
  };
  if (slash >= 0) {
    const base = addr(addrText.slice(0, slash));
    const len = parseNumber(text, addrText.slice(slash + 1), base.length * 8, 'prefix length');
    // As swanctl does, host bits below the prefix are cleared (203.0.113.9/24 is 203.0.113.0/24).
    [startAddr, endAddr] = prefixRange(base, len);
  } else if (dash >= 0) {
    startAddr = addr(addrText.slice(0, dash));
    endAddr = addr(addrText.slice(dash + 1));
    if (startAddr.length !== endAddr.length) {
      throw new SelectorSyntaxError(text, addrText, `range '${addrText}' mixes IPv4 and IPv6`);
    }
    if (compare(startAddr, endAddr) > 0) {
      throw new SelectorSyntaxError(text, addrText, `range '${addrText}' ends before it starts`);
    }
  } else {
    startAddr = addr(addrText);
    endAddr = new Uint8Array(startAddr);
  }
  return {
    // RFC 7296 §3.13.1: TS_IPV4_ADDR_RANGE carries 4-octet, TS_IPV6_ADDR_RANGE 16-octet addresses.
    tsType: startAddr.length === 4 ? TsType.TS_IPV4_ADDR_RANGE : TsType.TS_IPV6_ADDR_RANGE,
    ipProtocol: pp.ipProtocol,
    startPort: pp.startPort,
    endPort: pp.endPort,
    startAddr,
    endAddr,
  };
}

/** swanctl-style text: CIDR when the range is one prefix, `a-b` otherwise, then `[proto/port]`. */
export function formatSelector(ts: TrafficSelector): string {
  const len = prefixLength(ts.startAddr, ts.endAddr);
  const bits = ts.startAddr.length * 8;
  let out: string;
  if (len === bits) out = bytesToIp(ts.startAddr);
  else if (len >= 0) out = `${bytesToIp(ts.startAddr)}/${len}`;
  else out = `${bytesToIp(ts.startAddr)}-${bytesToIp(ts.endAddr)}`;
  const allPorts = ts.startPort === 0 && ts.endPort === 0xffff;
  if (ts.ipProtocol === 0 && allPorts) return out;
  const proto = PROTOCOL_TEXT[ts.ipProtocol] ?? String(ts.ipProtocol);
  if (allPorts) return `${out}[${proto}]`;
  if (isIcmp(ts.ipProtocol) && (ts.startPort & 0xff) === 0 && ts.endPort === (ts.startPort | 0xff)) {
    return `${out}[${proto}/${ts.startPort >> 8}]`;
  }
  const ports = ts.startPort === ts.endPort ? `${ts.startPort}` : `${ts.startPort}-${ts.endPort}`;
  return `${out}[${proto}/${ports}]`;
}

// ---------------------------------------------------------------------------------------
// Set operations

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && compare(a, b) === 0;

export function selectorsEqual(a: TrafficSelector, b: TrafficSelector): boolean {
  return (
    a.tsType === b.tsType &&
    a.ipProtocol === b.ipProtocol &&
    a.startPort === b.startPort &&
    a.endPort === b.endPort &&
    equalBytes(a.startAddr, b.startAddr) &&
    equalBytes(a.endAddr, b.endAddr)
  );
}

/** True when every packet `inner` selects is also selected by `outer`. */
export function selectorContains(outer: TrafficSelector, inner: TrafficSelector): boolean {
  return (
    outer.tsType === inner.tsType &&
    (outer.ipProtocol === 0 || outer.ipProtocol === inner.ipProtocol) &&
    outer.startPort <= inner.startPort &&
    inner.endPort <= outer.endPort &&
    compare(outer.startAddr, inner.startAddr) <= 0 &&
    compare(inner.endAddr, outer.endAddr) <= 0
  );
}

/** The selector both `a` and `b` select, or null when they share nothing. */
export function intersectSelectors(a: TrafficSelector, b: TrafficSelector): TrafficSelector | null {
  if (a.tsType !== b.tsType) return null;
  // protocol 0 is "any" (RFC 7296 §3.13.1), so it narrows to the other side's protocol
  if (a.ipProtocol !== 0 && b.ipProtocol !== 0 && a.ipProtocol !== b.ipProtocol) return null;
  const startPort = Math.max(a.startPort, b.startPort);
  const endPort = Math.min(a.endPort, b.endPort);
  if (startPort > endPort) return null;
  const startAddr = compare(a.startAddr, b.startAddr) >= 0 ? a.startAddr : b.startAddr;
  const endAddr = compare(a.endAddr, b.endAddr) <= 0 ? a.endAddr : b.endAddr;
  if (compare(startAddr, endAddr) > 0) return null;
  return {
    tsType: a.tsType,
    ipProtocol: a.ipProtocol || b.ipProtocol,
    startPort,
    endPort,
    startAddr: new Uint8Array(startAddr),
    endAddr: new Uint8Array(endAddr),
  };
}

/**
 * The responder's narrowing (RFC 7296 §2.9): the intersection of each proposed selector with
 * each local one, empty results dropped, duplicates removed, in the order of `proposed`. An
 * empty result means TS_UNACCEPTABLE.
 */
export function narrowSelectors(local: TrafficSelector[], proposed: TrafficSelector[]): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  for (const p of proposed) {
    for (const l of local) {
      const n = intersectSelectors(p, l);
      if (n && !out.some((o) => selectorsEqual(o, n))) out.push(n);
    }
  }
  return out;
}

/** The fields of an inner packet a selector looks at (RFC 4301 §4.4.1.1 selectors). */
export interface PacketSelectorFields {
  version: 4 | 6;
  protocol: number;
  src?: Uint8Array;
  dst?: Uint8Array;
  /** for ICMP, (type << 8) | code, as RFC 7296 §3.13.1 packs them into the port field */
  srcPort?: number;
  dstPort?: number;
}

/**
 * Does one selector select this address, protocol and port? A missing port (a protocol
 * without ports) matches only a selector that allows every port.
 */
export function selectorMatches(ts: TrafficSelector, addr: Uint8Array, protocol: number, port?: number): boolean {
  const want = ts.tsType === TsType.TS_IPV4_ADDR_RANGE ? 4 : 16;
  if (addr.length !== want) return false;
  if (ts.ipProtocol !== 0 && ts.ipProtocol !== protocol) return false;
  if (port === undefined) {
    if (ts.startPort !== 0 || ts.endPort !== 0xffff) return false;
  } else if (port < ts.startPort || port > ts.endPort) return false;
  for (let i = 0; i < want; i++) {
    if (addr[i] !== ts.startAddr[i]) {
      if (addr[i] < ts.startAddr[i]) return false;
      break;
    }
  }
  for (let i = 0; i < want; i++) {
    if (addr[i] !== ts.endAddr[i]) return addr[i] < ts.endAddr[i];
  }
  return true;
}

/**
 * Does any selector of `list` select the packet's destination (`side = 'dst'`, the outbound
 * SPD lookup against TSr) or its source (`side = 'src'`, e.g. the inbound check against TSi)?
 * No allocation: safe for the datapath.
 */
export function selectorCovers(list: readonly TrafficSelector[], packet: PacketSelectorFields, side: 'dst' | 'src' = 'dst'): boolean {
  const addr = side === 'dst' ? packet.dst : packet.src;
  if (!addr || addr.length !== (packet.version === 4 ? 4 : 16)) return false;
  const port = side === 'dst' ? packet.dstPort : packet.srcPort;
  for (const ts of list) if (selectorMatches(ts, addr, packet.protocol, port)) return true;
  return false;
}

/** Selector texts as CIDR prefixes for routes (ranges split into the fewest prefixes). */
export function selectorCidrs(texts: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of texts) {
    const ts = parseSelector(t);
    for (const c of rangeToCidrs(ts.startAddr, ts.endAddr)) if (!out.includes(c)) out.push(c);
  }
  return out;
}

function rangeToCidrs(start: Uint8Array, end: Uint8Array): string[] {
  const bits = start.length * 8;
  let lo = bytesToBig(start);
  const hi = bytesToBig(end);
  const out: string[] = [];
  while (lo <= hi) {
    let len = bits;
    // the largest aligned block starting at lo that stays within hi
    while (len > 0) {
      const size = 1n << BigInt(bits - len + 1);
      if (lo % size !== 0n || lo + size - 1n > hi) break;
      len--;
    }
    out.push(`${bigToText(lo, start.length)}/${len}`);
    lo += 1n << BigInt(bits - len);
  }
  return out;
}

const bytesToBig = (b: Uint8Array): bigint => b.reduce((a, x) => (a << 8n) | BigInt(x), 0n);

function bigToText(v: bigint, n: number): string {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Number((v >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return bytesToIp(b);
}
