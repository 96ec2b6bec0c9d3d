// The interop matrix (interop/cases) as tests: one `it` per case and tsvpn role, run
// one after the other against strongSwan (charon + kernel-libipsec) in network namespaces.
// Each run checks both peers' views, traffic both ways with moving counters, or, for a
// failure case, the failure-map row and its evidence on tsvpn's side (interop/lab/run-case.ts).
// The same runs are available as a table: `npm run interop` / `npx tsx interop/run.ts`.
// Set TSVPN_INTEROP_ONLY=<pattern> to run a subset.

import { describe, expect, it } from 'vitest';

import { netnsSupport } from '../../src/io/netns.js';
import { selectRuns } from '../../interop/cases/index.js';
import { pkiSupport } from '../../interop/lab/pki.js';
import { runCase } from '../../interop/lab/run-case.js';
import { strongswanSupport } from '../../interop/lab/strongswan.js';

const reasons = [netnsSupport(), strongswanSupport(), pkiSupport()].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

// Runs left out because of a tsvpn bug, each with the bug it shows (interop/README.md,
// "tsvpn bugs the matrix found"); `npx tsx interop/run.ts --only <name>` still runs them.
// Empty: the two rekey bugs found here were fixed in 0575908 and ead4400.
const KNOWN_TSVPN_BUGS: Record<string, string> = {};

const runs = selectRuns(process.env.TSVPN_INTEROP_ONLY).filter((r) => !(r.name in KNOWN_TSVPN_BUGS));

describe.skipIf(!ok)(`tsvpn against strongSwan 5.9.8 ${ok ? '(needs root, strongSwan, pki)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  for (const r of runs) {
    it(r.name, async () => {
      const res = await runCase(r.c, r.role);
      for (const n of res.notes) console.log(`${r.name}: note: ${n}`);
      const logs = res.logs ? `\n--- tsvpn ---\n${res.logs.tsvpn.slice(-3000)}\n--- charon ---\n${res.logs.strongswan.slice(-3000)}` : '';
      expect(res.problems, `${r.name}:\n${res.problems.join('\n')}${logs}`).toEqual([]);
    }, 120_000);
  }
});
