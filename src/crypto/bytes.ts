// Small byte helpers shared by the crypto files.

/** Concatenate byte arrays into one new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Overwrite secrets with zeros (keys, SKEYSEED, KEYMAT, shared secrets). */
export function zero(...arrays: Uint8Array[]): void {
  for (const a of arrays) a.fill(0);
}
