import { defineConfig } from 'vitest/config';
import { TIERS } from './test/tiers.js';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    pool: 'forks',
    // one project per tier: `vitest run --project unit` (npm run test:unit) runs only that tier
    projects: Object.entries(TIERS).map(([name, include]) => ({ extends: true, test: { name, include: [...include] } })),
  },
});
