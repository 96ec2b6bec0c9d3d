// Anti-replay window for inbound ESP: RFC 4303 §3.4.3 semantics, RFC 6479 bitmap layout,
// RFC 4303 Appendix A2 for Extended Sequence Numbers (ESN).
//
// Two steps per packet, so that a forged packet cannot move the window (RFC 4303 §3.4.3:
// "the receive window is updated only if the integrity verification succeeds"):
//   check(seqLow)        before decryption: cheap, changes nothing; returns the inferred
//                        high 32 bits of the 64-bit sequence number, or a REPLAY_* code.
//   commit(seqLow, high) after the ICV verified: marks the number as seen, slides the window.
//
// Sequence numbers are kept as two unsigned 32-bit halves (high, low) so a 64-bit ESN
// counter never loses precision in a JS number.

/** Returned by check(): the number was already received (RFC 4303 §3.4.3 duplicate). */
export const REPLAY_DUPLICATE = -1;
/** Returned by check(): the number is left of the window, or is the never-sent number 0. */
export const REPLAY_TOO_OLD = -2;

/** Implementation choice: RFC 4303 §3.4.3 asks for at least 32, recommends 64; we default to 1024. */
export const DEFAULT_REPLAY_WINDOW = 1024;

const TWO_32 = 0x1_0000_0000;

export class ReplayConfigError extends Error {
  override name = 'ReplayConfigError';
}

export interface ReplayOptions {
  /** Window size W in packets: a multiple of the block size, at least 32. */
  size?: number;
  /** RFC 6479 bitmap block size in bits. */
  blockBits?: 32 | 64;
  /** RFC 4303 §2.2.1: the SA uses 64-bit Extended Sequence Numbers. */
  esn?: boolean;
}

export class ReplayWindow {
  readonly size: number;
  readonly esn: boolean;
  readonly blockBits: number;
  private readonly wordsPerBlock: number;
  private readonly blockShift: number;
  private readonly blockMask: number; // number of blocks - 1 (ring index mask)
  private readonly bitmap: Uint32Array;
  // Highest sequence number committed so far (RFC 4303 A2: T = Th | Tl); 0 means none yet.
  private topHigh = 0;
  private topLow = 0;

  constructor(opts: ReplayOptions = {}) {
    const size = opts.size ?? DEFAULT_REPLAY_WINDOW;
    const blockBits = opts.blockBits ?? 32;
    if (blockBits !== 32 && blockBits !== 64) throw new ReplayConfigError(`block size must be 32 or 64 bits, got ${blockBits}`);
    if (!Number.isInteger(size) || size < 32 || size % blockBits !== 0 || size > 1 << 24) {
      throw new ReplayConfigError(`replay window must be a multiple of ${blockBits} between 32 and 2^24, got ${size}`);
    }
    this.size = size;
    this.esn = opts.esn ?? false;
    this.blockBits = blockBits;
    this.wordsPerBlock = blockBits / 32;
    this.blockShift = blockBits === 32 ? 5 : 6;
    // RFC 6479 §2: one block more than the window, so sliding clears whole blocks while
    // the W newest bits stay intact; rounded up to a power of two for a cheap ring index.
    let blocks = 1;
    while (blocks < size / blockBits + 1) blocks <<= 1;
    this.blockMask = blocks - 1;
    this.bitmap = new Uint32Array(blocks * this.wordsPerBlock);
  }

  /** Highest committed sequence number as [high, low] (both 0 before the first packet). */
  highest(): [number, number] {
    return [this.topHigh, this.topLow];
  }

  /**
   * Pre-check a received 32-bit Sequence Number field. No state change.
   * Returns the inferred high 32 bits (0 without ESN) or REPLAY_DUPLICATE / REPLAY_TOO_OLD.
   */
  check(seqLow: number): number {
    seqLow >>>= 0;
    const high = this.esn ? this.inferHigh(seqLow) : 0;
    if (high < 0) return REPLAY_TOO_OLD;
    // RFC 4303 §3.3.3: the first packet sent has number 1; 0 is never valid.
    if (high === 0 && seqLow === 0) return REPLAY_TOO_OLD;
    const delta = this.distanceBelowTop(high, seqLow);
    if (delta < 0) return high; // right of the window: new
    if (delta >= this.size) return REPLAY_TOO_OLD; // RFC 4303 §3.4.3: left of the window
    return this.testBit(seqLow) ? REPLAY_DUPLICATE : high;
  }

  /**
   * Record a sequence number whose ICV verified (RFC 4303 §3.4.3). Returns false (and
   * changes nothing) if it is now a duplicate or too old, e.g. a copy earlier in the batch.
   */
  commit(seqLow: number, high: number): boolean {
    seqLow >>>= 0;
    high >>>= 0;
    if (high === 0 && seqLow === 0) return false;
    const delta = this.distanceBelowTop(high, seqLow);
    if (delta < 0) {
      this.slide(high, seqLow, -delta);
      this.setBit(seqLow);
      return true;
    }
    if (delta >= this.size || this.testBit(seqLow)) return false;
    this.setBit(seqLow);
    return true;
  }

  /** Forget everything (a fresh SA). */
  reset(): void {
    this.bitmap.fill(0);
    this.topHigh = 0;
    this.topLow = 0;
  }

  // RFC 4303 Appendix A2.2: infer Seqh from Seql, the top of the window T and its size W.
  // Returns -1 when the inferred number would be below 0 (or above 2^64 - 1).
  private inferHigh(seqLow: number): number {
    const th = this.topHigh;
    const tl = this.topLow;
    const w = this.size;
    if (tl >= w - 1) {
      // Case A: the window lies within one sequence-number subspace.
      const bl = tl - w + 1;
      if (seqLow >= bl) return th;
      return th === 0xffff_ffff ? -1 : th + 1;
    }
    // Case B: the window spans two subspaces; Bl wraps below zero.
    const bl = (tl - w + 1 + TWO_32) % TWO_32;
    if (seqLow >= bl) return th === 0 ? -1 : th - 1;
    return th;
  }

  // top - seq as a double: negative when seq is above top. Exact while |difference| < 2^53,
  // and only ever compared with window-sized thresholds beyond that.
  private distanceBelowTop(high: number, low: number): number {
    return (this.topHigh - high) * TWO_32 + (this.topLow - low);
  }

  // RFC 6479 §2: advance the top by `by` (> 0), clearing the blocks the window enters.
  // At most `blocks` iterations, whatever the jump.
  private slide(high: number, low: number, by: number): void {
    const b = this.blockBits;
    const topIndex = this.topLow >>> this.blockShift;
    // Blocks entered = floor(new / B) - floor(old / B), computed from the distance.
    const entered = Math.floor((by + (this.topLow & (b - 1))) / b);
    const clear = Math.min(entered, this.blockMask + 1);
    const wpb = this.wordsPerBlock;
    for (let i = 1; i <= clear; i++) {
      const blk = (topIndex + i) & this.blockMask;
      const w = blk * wpb;
      this.bitmap[w] = 0;
      if (wpb === 2) this.bitmap[w + 1] = 0;
    }
    this.topHigh = high;
    this.topLow = low;
  }

  private testBit(low: number): boolean {
    const blk = (low >>> this.blockShift) & this.blockMask;
    const bitInBlock = low & (this.blockBits - 1);
    return (this.bitmap[blk * this.wordsPerBlock + (bitInBlock >>> 5)] & (1 << (bitInBlock & 31))) !== 0;
  }

  private setBit(low: number): void {
    const blk = (low >>> this.blockShift) & this.blockMask;
    const bitInBlock = low & (this.blockBits - 1);
    this.bitmap[blk * this.wordsPerBlock + (bitInBlock >>> 5)] |= 1 << (bitInBlock & 31);
  }
}
