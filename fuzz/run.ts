// npm run fuzz -- <target> [--runs N] [--seconds S] [--seed N] [--hang-ms 100] [--no-coverage]
// A long campaign on one target (fuzz/README.md). Exits 1 when it found a crash or a hang;
// the inputs are written to fuzz/findings/ (hex, then the error).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCampaign } from './engine.js';
import { loadCorpus, TARGETS } from './targets.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string' },
    seconds: { type: 'string' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    'hang-ms': { type: 'string', default: '100' },
    'no-coverage': { type: 'boolean', default: false },
  },
});
const names = TARGETS.map((t) => t.name);
const target = TARGETS.find((t) => t.name === positionals[0]);
if (!target || positionals.length !== 1) {
  console.error(`usage: npm run fuzz -- <target> [--runs N] [--seconds S] [--seed N] [--hang-ms MS] [--no-coverage]\ntargets: ${names.join(', ')}`);
  process.exit(2);
}
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const corpus = loadCorpus(target.name);
console.log(`${target.name}: ${corpus.length} corpus inputs, seed ${values.seed}`);
const r = runCampaign(target, corpus, {
  runs: num(values.runs),
  seconds: num(values.seconds) ?? (values.runs === undefined ? 60 : undefined),
  seed: Number(values.seed),
  hangMs: Number(values['hang-ms']),
  coverage: !values['no-coverage'],
  findingsDir: join(import.meta.dirname, 'findings'),
  log: (l) => console.log(l),
});
const { crashes, hangs, slowestInput, ...summary } = r;
console.log(`slowest input (${r.slowestMs.toFixed(1)} ms): ${Buffer.from(slowestInput).toString('hex')}`);
console.log(JSON.stringify({ ...summary, crashes: crashes.length, hangs: hangs.length }));
process.exit(r.crashCount + r.hangCount > 0 ? 1 : 0);
