// The byte mutator (after libFuzzer's MutationDispatcher): bit flips, interesting values,
// length-field nudges, insertions, deletions, copies, dictionary tokens and splices with
// another corpus entry, 1 to 4 stacked per input. Deterministic for a seed.

/** xorshift32: fast, seeded, not for keys. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.s = x >>> 0);
  }
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

const INTERESTING8 = [0, 1, 2, 4, 8, 16, 0x20, 0x40, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING16 = [0, 1, 4, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff];

function splice(a: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length - remove + insert.length);
  out.set(a.subarray(0, at));
  out.set(insert, at);
  out.set(a.subarray(at + remove), at + insert.length);
  return out;
}

/** One mutation of `d` (a fresh array; `d` is not changed). */
function mutateOnce(d: Uint8Array, rng: Rng, dict: readonly Uint8Array[], other: () => Uint8Array): Uint8Array {
  const n = d.length;
  const at = rng.below(n + 1);
  switch (rng.below(12)) {
    case 0: { // flip one bit
      if (n === 0) return rng.bytes(1 + rng.below(8));
      const x = d.slice();
      x[rng.below(n)] ^= 1 << rng.below(8);
      return x;
    }
    case 1: { // random byte
      if (n === 0) return rng.bytes(1);
      const x = d.slice();
      x[rng.below(n)] = rng.next() & 0xff;
      return x;
    }
    case 2: { // interesting byte
      if (n === 0) return Uint8Array.of(INTERESTING8[rng.below(INTERESTING8.length)]);
      const x = d.slice();
      x[rng.below(n)] = INTERESTING8[rng.below(INTERESTING8.length)];
      return x;
    }
    case 3: { // nudge a big-endian 16-bit word (length fields) by -4..+4
      if (n < 2) return d.slice();
      const x = d.slice();
      const p = rng.below(n - 1);
      const v = (((x[p] << 8) | x[p + 1]) + rng.below(9) - 4) & 0xffff;
      x[p] = v >> 8;
      x[p + 1] = v & 0xff;
      return x;
    }
    case 4: { // interesting 16-bit value
      if (n < 2) return d.slice();
      const x = d.slice();
      const p = rng.below(n - 1);
      const v = INTERESTING16[rng.below(INTERESTING16.length)];
      x[p] = v >> 8;
      x[p + 1] = v & 0xff;
      return x;
    }
    case 5: // insert random bytes
      return splice(d, at, 0, rng.bytes(1 + rng.below(rng.below(2) ? 4 : 64)));
    case 6: { // delete a range
      if (n === 0) return d.slice();
      const p = rng.below(n);
      return splice(d, p, 1 + rng.below(Math.min(n - p, rng.below(2) ? 4 : 128)), new Uint8Array(0));
    }
    case 7: { // duplicate / copy a range elsewhere
      if (n === 0) return d.slice();
      const p = rng.below(n);
      const chunk = d.slice(p, p + 1 + rng.below(Math.min(n - p, 64)));
      return rng.below(2) ? splice(d, at, 0, chunk) : splice(d, Math.min(at, n - chunk.length), chunk.length, chunk);
    }
    case 8: // insert a dictionary token
    case 9: { // overwrite with a dictionary token
      if (dict.length === 0) return splice(d, at, 0, rng.bytes(1));
      const t = dict[rng.below(dict.length)];
      return rng.below(2) ? splice(d, at, 0, t) : splice(d, Math.min(at, Math.max(0, n - t.length)), Math.min(t.length, n), t);
    }
    case 10: { // splice with another input: our head, its tail
      const o = other();
      if (o.length === 0) return d.slice();
      const q = rng.below(o.length);
      const x = new Uint8Array(at + o.length - q);
      x.set(d.subarray(0, at));
      x.set(o.subarray(q), at);
      return x;
    }
    default: // truncate
      return d.slice(0, rng.below(n + 1));
  }
}

/** 1 to 4 stacked mutations, cut to `maxLength`. */
export function mutate(d: Uint8Array, rng: Rng, dict: readonly Uint8Array[], other: () => Uint8Array, maxLength: number): Uint8Array {
  let x = d;
  const k = 1 + rng.below(4);
  for (let i = 0; i < k; i++) x = mutateOnce(x, rng, dict, other);
  return x.length > maxLength ? x.subarray(0, maxLength) : x;
}
