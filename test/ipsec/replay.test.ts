import { describe, it, expect } from 'vitest';
import { ReplayWindow, REPLAY_DUPLICATE, REPLAY_TOO_OLD, ReplayConfigError } from '../../src/ipsec/replay.js';

/** check + commit, as inbound does after a good ICV. Returns whether the packet was accepted. */
/** Walk an ESN window up to T = 2^32 - 16 in steps the inference can follow. */
function climb(w: ReplayWindow): void {
  for (const seq of [1000, 0x8000_0000, 0xffff_fff0]) expect(receive(w, seq)).toBe(true);
}

function receive(w: ReplayWindow, seq: number): boolean {
  const high = w.check(seq);
  if (high < 0) return false;
  return w.commit(seq, high);
}

describe('replay window (RFC 4303 §3.4.3, RFC 6479)', () => {
  it('drops a duplicate and accepts out-of-order numbers inside the window', () => {
    const w = new ReplayWindow({ size: 64 });
    expect(receive(w, 1)).toBe(true);
    expect(receive(w, 3)).toBe(true);
    expect(receive(w, 2)).toBe(true); // out of order, inside the window
    expect(w.check(2)).toBe(REPLAY_DUPLICATE);
    expect(w.check(3)).toBe(REPLAY_DUPLICATE);
    expect(receive(w, 3)).toBe(false);
  });

  it('refuses sequence number 0 (never sent, RFC 4303 §3.3.3)', () => {
    const w = new ReplayWindow();
    expect(w.check(0)).toBe(REPLAY_TOO_OLD);
    expect(w.commit(0, 0)).toBe(false);
  });

  it('check() changes nothing: only commit() moves the window', () => {
    const w = new ReplayWindow({ size: 32 });
    expect(w.check(1000)).toBe(0);
    expect(w.highest()).toEqual([0, 0]);
    expect(receive(w, 5)).toBe(true); // still inside, since 1000 was never committed
  });

  for (const size of [32, 64, 1024, 4096]) {
    for (const blockBits of [32, 64] as const) {
      if (size % blockBits) continue;
      it(`window ${size} (blocks of ${blockBits}): edge of the window is exact`, () => {
        const w = new ReplayWindow({ size, blockBits });
        const top = size * 3 + 7;
        expect(receive(w, top)).toBe(true);
        // RFC 4303 §3.4.3: the window holds top-W+1 .. top.
        expect(w.check(top - size + 1)).toBe(0);
        expect(w.check(top - size)).toBe(REPLAY_TOO_OLD);
        expect(receive(w, top - size + 1)).toBe(true);
        expect(w.check(top - size + 1)).toBe(REPLAY_DUPLICATE);
        // A jump far ahead clears the old bits: the number just below the new top is fresh.
        expect(receive(w, top + 10 * size)).toBe(true);
        expect(w.check(top + 10 * size - 1)).toBe(0);
        expect(w.check(top)).toBe(REPLAY_TOO_OLD);
      });
    }
  }

  it('rejects window sizes that are not a multiple of the block or below 32', () => {
    expect(() => new ReplayWindow({ size: 16 })).toThrow(ReplayConfigError);
    expect(() => new ReplayWindow({ size: 96, blockBits: 64 })).toThrow(ReplayConfigError);
    expect(() => new ReplayWindow({ size: 100 })).toThrow(ReplayConfigError);
    expect(new ReplayWindow({ size: 96 }).size).toBe(96);
  });

  it('agrees with a reference model (a Set and the highest number) on random orders', () => {
    let state = 0x2545f491;
    const rand = (n: number): number => {
      state ^= state << 13; state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5; state >>>= 0;
      return state % n;
    };
    for (const [size, blockBits] of [[32, 32], [64, 64], [128, 32], [1024, 64]] as const) {
      const w = new ReplayWindow({ size, blockBits });
      const seen = new Set<number>();
      let top = 0;
      let base = 1;
      for (let i = 0; i < 4000; i++) {
        // Mostly near the top, sometimes duplicates, sometimes old, sometimes jumps.
        const r = rand(10);
        let seq: number;
        if (r < 6) seq = base + rand(size * 2);
        else if (r < 8) seq = Math.max(0, top - rand(size * 2));
        else if (r < 9) seq = top;
        else seq = top + rand(size * 8);
        if (rand(50) === 0) base += size;
        const expected = seq !== 0 && !seen.has(seq) && seq > top - size;
        expect(receive(w, seq), `size ${size} seq ${seq} top ${top}`).toBe(expected);
        if (expected) {
          seen.add(seq);
          top = Math.max(top, seq);
        }
      }
    }
  });
});

describe('ESN high-bits inference (RFC 4303 Appendix A2)', () => {
  it('Case A: window inside one subspace; a small low number means the next subspace', () => {
    const w = new ReplayWindow({ size: 64, esn: true });
    climb(w); // Th = 0, Tl = 2^32 - 16
    expect(w.check(0xffff_ffe0)).toBe(0); // inside the window: Seqh = Th
    expect(w.check(3)).toBe(1); // Seql < Bl: Seqh = Th + 1 (the counter wrapped)
    expect(w.commit(3, 1)).toBe(true);
    expect(w.highest()).toEqual([1, 3]);
  });

  it('Case B: window spans two subspaces; a large low number is in the previous one', () => {
    const w = new ReplayWindow({ size: 64, esn: true });
    climb(w);
    receive(w, 3); // now T = 2^32 + 3, Tl = 3 < W - 1
    expect(w.check(0xffff_fff8)).toBe(0); // Seql >= Bl: Seqh = Th - 1, inside the window
    expect(receive(w, 0xffff_fff8)).toBe(true);
    expect(w.check(0xffff_fff0)).toBe(REPLAY_DUPLICATE); // received before the wrap
    expect(w.check(5)).toBe(1); // Seql < Bl: Seqh = Th
    // Below Bl = Tl - W + 1 (mod 2^32): A2.2 reads it as far ahead (Seqh = Th); only the
    // ICV, which covers Seqh, can then tell. It is not taken for an old number.
    expect(w.check(0xffff_ff00)).toBe(1);
  });

  it('before any packet, numbers that would infer a negative high half are too old', () => {
    const w = new ReplayWindow({ size: 64, esn: true });
    expect(w.check(0xffff_fff0)).toBe(REPLAY_TOO_OLD); // would be -16
    expect(w.check(1)).toBe(0);
  });

  it('without ESN, the high half is always 0', () => {
    const w = new ReplayWindow({ size: 64 });
    climb(w);
    expect(w.check(3)).toBe(REPLAY_TOO_OLD);
  });
});
