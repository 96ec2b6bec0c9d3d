// Test helper: hand-built IPv4 ICMP echo packets (no ping on a fresh machine).

/** RFC 1071: the 16-bit one's complement of the one's complement sum. */
export function internetChecksum(b: Uint8Array, off = 0, len = b.length - off): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i] << 8) | b[off + i + 1];
  if (len % 2 === 1) sum += b[off + len - 1] << 8; // RFC 1071 §4.1: pad the odd byte with zero
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map((x) => Number(x));
}

/** An IPv4 packet (RFC 791) carrying an ICMP echo request (RFC 792, type 8). */
export function echoRequest(src: string, dst: string, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const icmpLen = 8 + payload.length;
  const p = new Uint8Array(20 + icmpLen);
  const v = new DataView(p.buffer);
  p[0] = 0x45; // RFC 791 §3.1: version 4, IHL 5 words
  v.setUint16(2, p.length); // total length
  v.setUint16(4, seq); // identification
  v.setUint16(6, 0x4000); // flags: DF
  p[8] = 64; // TTL
  p[9] = 1; // protocol ICMP
  p.set(ipv4Bytes(src), 12);
  p.set(ipv4Bytes(dst), 16);
  v.setUint16(10, internetChecksum(p, 0, 20)); // RFC 791 §3.1: header checksum
  p[20] = 8; // RFC 792: echo request
  p[21] = 0; // code
  v.setUint16(24, id);
  v.setUint16(26, seq);
  p.set(payload, 28);
  v.setUint16(22, internetChecksum(p, 20, icmpLen)); // RFC 792: checksum over the ICMP message
  return p;
}

export interface EchoReply {
  src: string;
  dst: string;
  id: number;
  seq: number;
  payload: Uint8Array;
  ipChecksumOk: boolean;
  icmpChecksumOk: boolean;
}

/** Parses an IPv4 ICMP echo reply (type 0); undefined for any other packet. */
export function parseEchoReply(p: Uint8Array): EchoReply | undefined {
  if (p.length < 28 || p[0] >> 4 !== 4 || p[9] !== 1) return undefined;
  const ihl = (p[0] & 0x0f) * 4;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const total = v.getUint16(2);
  if (total > p.length || p[ihl] !== 0) return undefined;
  return {
    src: Array.from(p.subarray(12, 16)).join('.'),
    dst: Array.from(p.subarray(16, 20)).join('.'),
    id: v.getUint16(ihl + 4),
    seq: v.getUint16(ihl + 6),
    payload: Uint8Array.from(p.subarray(ihl + 8, total)), // a copy: p may be a reused slab
    ipChecksumOk: internetChecksum(p, 0, ihl) === 0, // a correct header sums to 0xffff
    icmpChecksumOk: internetChecksum(p, ihl, total - ihl) === 0,
  };
}
