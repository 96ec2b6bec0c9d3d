// Single DES (FIPS 46-3), encryption of one 64-bit block only: what MS-CHAPv2 needs
// (RFC 2759 §8.6 DesEncrypt, keyed with 7 bytes of the password hash). Node's OpenSSL 3 has
// DES only in its legacy provider. Written bit by bit after the standard's tables, for
// reading rather than speed (three blocks per authentication). Not for anything else.

// FIPS 46-3 "Enciphering": the initial permutation IP (bit numbers 1..64, MSB of the block first)
const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
// FIPS 46-3: IP^-1 is the inverse of IP
const IP_INV = IP.reduce<number[]>((inv, from, to) => ((inv[from - 1] = to + 1), inv), []);
// FIPS 46-3 "The Cipher Function f": the expansion E (32 -> 48 bits) and the permutation P
const E = [
  32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
  16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
// FIPS 46-3: the selection functions S1..S8, each 4 rows of 16
const S = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];
// FIPS 46-3 "Key Schedule Calculation": permuted choice 1 (64 -> 56, parity bits dropped) and 2 (56 -> 48)
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
// FIPS 46-3: left shifts of C and D before each of the 16 iterations
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

type Bits = number[]; // one 0/1 per bit, most significant first

const bitsOf = (bytes: Uint8Array): Bits => Array.from(bytes, (b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (b >> i) & 1)).flat();
const permute = (bits: Bits, table: number[]): Bits => table.map((n) => bits[n - 1]);
const xor = (a: Bits, b: Bits): Bits => a.map((v, i) => v ^ b[i]);
const rotateLeft = (half: Bits, n: number): Bits => [...half.slice(n), ...half.slice(0, n)];

function bytesOf(bits: Bits): Uint8Array {
  const out = new Uint8Array(bits.length / 8);
  bits.forEach((v, i) => (out[i >> 3] |= v << (7 - (i & 7))));
  return out;
}

/** FIPS 46-3: the sixteen 48-bit subkeys K1..K16 from a 64-bit key (its parity bits ignored). */
function subkeys(key: Uint8Array): Bits[] {
  const cd = permute(bitsOf(key), PC1);
  let c = cd.slice(0, 28);
  let d = cd.slice(28);
  return SHIFTS.map((n) => {
    c = rotateLeft(c, n);
    d = rotateLeft(d, n);
    return permute([...c, ...d], PC2);
  });
}

/** FIPS 46-3: f(R, K) = P(S1..S8(E(R) xor K)). */
function f(r: Bits, k: Bits): Bits {
  const x = xor(permute(r, E), k);
  const out: Bits = [];
  for (let i = 0; i < 8; i++) {
    const b = x.slice(i * 6, i * 6 + 6);
    const row = (b[0] << 1) | b[5]; // first and last bit pick the row, the middle four the column
    const col = (b[1] << 3) | (b[2] << 2) | (b[3] << 1) | b[4];
    const v = S[i][row * 16 + col];
    out.push((v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1);
  }
  return permute(out, P);
}

/** DES-encrypt one 8-byte block with an 8-byte key (FIPS 46-3). */
export function desEncryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  if (key.length !== 8 || block.length !== 8) throw new RangeError('DES takes an 8-byte key and an 8-byte block');
  const ks = subkeys(key);
  const lr = permute(bitsOf(block), IP);
  let l = lr.slice(0, 32);
  let r = lr.slice(32);
  for (const k of ks) [l, r] = [r, xor(l, f(r, k))]; // FIPS 46-3: L' = R, R' = L xor f(R, K)
  const out = bytesOf(permute([...r, ...l], IP_INV)); // the preoutput is R16 L16
  ks.forEach((k) => k.fill(0));
  return out;
}

/**
 * RFC 2759 §8.6 DesEncrypt: a 7-byte (56-bit) key spread over the eight bytes of a DES key,
 * seven bits in each byte's high bits (the low bit is parity, which DES ignores).
 */
export function desEncrypt7(key7: Uint8Array, block: Uint8Array): Uint8Array {
  if (key7.length !== 7) throw new RangeError('DesEncrypt takes a 7-byte key');
  const bits = bitsOf(key7);
  const key = new Uint8Array(8);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 7; j++) key[i] |= bits[i * 7 + j] << (7 - j);
  try {
    return desEncryptBlock(key, block);
  } finally {
    key.fill(0);
    bits.fill(0);
  }
}
