// The fuzz targets in CI (fuzz/README.md): every corpus input replayed through its target
// (regression: an input that once crashed stays fixed), then a short seeded campaign per
// target without coverage feedback. Long campaigns: npm run fuzz -- <target>.
import { describe, it, expect } from 'vitest';
import { runCampaign } from '../fuzz/engine.js';
import { loadCorpus, TARGETS } from '../fuzz/targets.js';
import { WireError } from '../src/wire/errors.js';
import { expectTyped, type FuzzTarget } from '../fuzz/target.js';

const SHORT_RUN = { runs: 20_000, seconds: 1.5, seed: 13, coverage: false } as const;

describe('fuzz targets', () => {
  for (const target of TARGETS) {
    it(`${target.name}: every corpus input runs without a finding`, () => {
      const corpus = loadCorpus(target.name);
      expect(corpus.length).toBeGreaterThan(0);
      for (const input of corpus) expect(() => expectTyped(() => target.run(input)), Buffer.from(input).toString('hex')).not.toThrow();
    });

    it(`${target.name}: a short mutation campaign finds no crash and no hang over 100 ms`, () => {
      const r = runCampaign(target, loadCorpus(target.name), SHORT_RUN);
      expect(r.execs).toBeGreaterThan(500);
      expect(r.crashes.map((c) => c.error)).toEqual([]);
      expect(r.hangs.map((c) => c.error)).toEqual([]);
    });
  }
});

describe('fuzz engine', () => {
  // a bug behind "FU" at the start, found by mutation from "AAAA"; other long inputs get a typed refusal
  const planted: FuzzTarget = {
    name: 'planted',
    dictionary: [Uint8Array.of(0x46, 0x55)],
    run(d) {
      if (d[0] === 0x46 && d[1] === 0x55) throw new RangeError('planted bug');
      if (d.length > 2) throw new WireError('truncated', 0);
    },
  };

  it('reports an untyped exception as a crash with its input, and a typed one as no finding', () => {
    const r = runCampaign(planted, [Uint8Array.of(0x41, 0x41, 0x41, 0x41)], { runs: 20_000, seed: 5, coverage: false });
    expect(r.crashes).toHaveLength(1);
    expect(r.crashes[0].error).toContain('RangeError: planted bug');
    expect(Array.from(r.crashes[0].input.subarray(0, 2))).toEqual([0x46, 0x55]);
  });

  it('reports an input that takes over 100 ms twice as a hang', () => {
    const seed = Uint8Array.of(1, 2, 3, 4, 5, 6, 0x99);
    const slow: FuzzTarget = {
      name: 'slow',
      run(d) {
        if (Buffer.from(d).equals(seed)) {
          const until = performance.now() + 120;
          while (performance.now() < until);
        }
      },
    };
    const r = runCampaign(slow, [seed], { runs: 300, seed: 3, coverage: false });
    expect(r.hangCount).toBeGreaterThanOrEqual(1);
    expect(r.hangs).toHaveLength(1);
    expect(r.hangs[0].input).toEqual(seed);
  });

  it('keeps inputs that reach new blocks of src/ (V8 block coverage)', () => {
    const ike = TARGETS.find((t) => t.name === 'ike-message')!;
    const r = runCampaign(ike, [new Uint8Array(28)], { runs: 3000, seed: 7, window: 500 });
    expect(r.added).toBeGreaterThan(0);
    expect(r.reach!.covered).toBeGreaterThan(10);
  });
});
