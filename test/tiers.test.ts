// Every test file is in exactly one tier (test/tiers.ts), so `npm run test:unit`,
// `test:fuzz`, `test:e2e` and `test:interop` together run what `npm test` runs.
import { describe, expect, it } from 'vitest';
import picomatch from 'picomatch';
import { globSync } from 'tinyglobby';
import { TIERS } from './tiers.js';

describe('test tiers', () => {
  const files = globSync('test/**/*.test.ts', { cwd: new URL('..', import.meta.url).pathname });
  const matchers = Object.entries(TIERS).map(([tier, globs]) => ({ tier, match: picomatch([...globs]) }));

  it('finds the test files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('puts every test file in exactly one tier', () => {
    const wrong = files
      .map((f) => ({ f, tiers: matchers.filter((m) => m.match(f)).map((m) => m.tier) }))
      .filter((x) => x.tiers.length !== 1)
      .map((x) => `${x.f}: ${x.tiers.length ? x.tiers.join(' and ') : 'no tier'}`);
    expect(wrong).toEqual([]);
  });
});
