// The Internet checksum (RFC 1071) that IPv4 headers, ICMP, TCP and UDP carry, and its
// incremental update (RFC 1624) for a field rewritten in place. Pure arithmetic on bytes.

/** RFC 1071 §4.1: sum 16-bit big-endian words, an odd last byte padded with zero. */
export function onesComplementSum(b: Uint8Array, initial = 0, start = 0, end = b.length): number {
  let sum = initial;
  const even = start + ((end - start) & ~1);
  for (let i = start; i < even; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (even !== end) sum += b[even] << 8;
  return sum;
}

/** RFC 1071 §2(C): fold the carries back in (end-around carry) to a 16-bit sum. */
export function foldChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** RFC 1071: the value to store in a checksum field over `bytes[start, end)`. */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return foldChecksum(onesComplementSum(bytes, 0, start, end)) ^ 0xffff;
}

/**
 * RFC 4443 §2.3 / RFC 8200 §8.1: the ICMPv6 checksum of an IPv6 packet without extension
 * headers: over the pseudo-header (source, destination, upper-layer length as 32 bits, three
 * zero octets, next header 58) and the ICMPv6 message from byte 40 on.
 */
export function icmpv6Checksum(packet: Uint8Array): number {
  const icmpLength = packet.length - 40;
  const sum = onesComplementSum(packet, icmpLength + 58, 8, 40);
  return foldChecksum(onesComplementSum(packet, sum, 40)) ^ 0xffff;
}

/** RFC 1624 §3 Eqn. 3: HC' = ~(~HC + ~m + m'), for the 16-bit field at `at` changed from m to m2. */
export function updateChecksum(b: Uint8Array, at: number, m: number, m2: number): void {
  const hc = (b[at] << 8) | b[at + 1];
  const out = ~foldChecksum((~hc & 0xffff) + (~m & 0xffff) + m2) & 0xffff;
  b[at] = out >> 8;
  b[at + 1] = out & 0xff;
}
