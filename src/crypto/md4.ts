// MD4 (RFC 1320), needed only by MS-CHAPv2 (RFC 2759 §8.3 NtPasswordHash, §8.7 HashNtPasswordHash).
// Node's OpenSSL 3 has MD4 only in its legacy provider and @noble/hashes has none, so it is
// written out here. Not for anything else: MD4 is broken as a hash.

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

// RFC 1320 §3.4: the three auxiliary functions and the round constants
const F = (x: number, y: number, z: number): number => (x & y) | (~x & z);
const G = (x: number, y: number, z: number): number => (x & y) | (x & z) | (y & z);
const H = (x: number, y: number, z: number): number => x ^ y ^ z;
const ROUND2 = 0x5a827999; // RFC 1320 §3.4: square root of 2
const ROUND3 = 0x6ed9eba1; // RFC 1320 §3.4: square root of 3

// RFC 1320 §3.4: the order in which each round takes the sixteen words, and its shifts
const R1_SHIFTS = [3, 7, 11, 19];
const R2_ORDER = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
const R2_SHIFTS = [3, 5, 9, 13];
const R3_ORDER = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
const R3_SHIFTS = [3, 9, 11, 15];

/** The MD4 digest (16 bytes) of `msg`. */
export function md4(msg: Uint8Array): Uint8Array {
  // RFC 1320 §3.1, §3.2: pad with a 1 bit and zeros to 56 mod 64 bytes, then the bit length, little-endian
  const padded = new Uint8Array((((msg.length + 8) >> 6) + 1) << 6);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, (msg.length * 8) >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(msg.length / 0x20000000), true);
  // RFC 1320 §3.3: the initial buffer A, B, C, D
  const s = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const x = new Array<number>(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = view.getUint32(off + i * 4, true);
    let [a, b, c, d] = s;
    // each step updates one of a, d, c, b in turn: [a,b,c,d] -> [d,a',b,c]
    const step = (v: number, k: number, sh: number): void => {
      const t = rotl(v + k, sh) >>> 0;
      [a, b, c, d] = [d, t, b, c];
    };
    for (let i = 0; i < 16; i++) step(a + F(b, c, d), x[i], R1_SHIFTS[i % 4]); // RFC 1320 §3.4 round 1
    for (let i = 0; i < 16; i++) step(a + G(b, c, d) + ROUND2, x[R2_ORDER[i]], R2_SHIFTS[i % 4]); // round 2
    for (let i = 0; i < 16; i++) step(a + H(b, c, d) + ROUND3, x[R3_ORDER[i]], R3_SHIFTS[i % 4]); // round 3
    s[0] = (s[0] + a) >>> 0;
    s[1] = (s[1] + b) >>> 0;
    s[2] = (s[2] + c) >>> 0;
    s[3] = (s[3] + d) >>> 0;
  }
  padded.fill(0); // the message may be a password
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  s.forEach((w, i) => ov.setUint32(i * 4, w, true)); // RFC 1320 §3.5: A, B, C, D low-order byte first
  return out;
}
