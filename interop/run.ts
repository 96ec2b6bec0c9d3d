// The interop matrix runner: every case of interop/cases with tsvpn as initiator and as
// responder against strongSwan in network namespaces, one after the other, and a table
// (case, role, result, evidence on failure). Exit code 0 when all pass, 1 otherwise,
// 2 on usage errors, 77 when the machine cannot run it (not root, no strongSwan).
//
//   npx tsx interop/run.ts [--only <pattern>] [--list] [--logs] [--json <file>]

import { writeFileSync } from 'node:fs';

import { netnsSupport } from '../src/io/netns.js';
import { selectRuns } from './cases/index.js';
import { pkiSupport } from './lab/pki.js';
import { runCase, type CaseResult } from './lab/run-case.js';
import { strongswanSupport } from './lab/strongswan.js';

const USAGE = 'usage: npx tsx interop/run.ts [--only <pattern>] [--list] [--logs] [--json <file>]';

function parseArgs(argv: string[]): { only?: string; list: boolean; logs: boolean; json?: string } {
  const o: { only?: string; list: boolean; logs: boolean; json?: string } = { list: false, logs: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only' && argv[i + 1] !== undefined) o.only = argv[++i];
    else if (a === '--json' && argv[i + 1] !== undefined) o.json = argv[++i];
    else if (a === '--list') o.list = true;
    else if (a === '--logs') o.logs = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`interop: unknown argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  return o;
}

function table(results: CaseResult[]): string {
  const rows = results.map((r) => [r.case, r.role, r.result.toUpperCase(), `${r.seconds}s`, r.evidence.split('\n')[0].slice(0, 160)]);
  const head = ['case', 'tsvpn role', 'result', 'time', 'evidence'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 4 ? 0 : r[i].length))));
  const line = (r: string[]) => r.map((c, i) => (i === 4 ? c : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const runs = selectRuns(args.only);
  if (args.list) {
    for (const r of runs) console.log(r.name);
    return 0;
  }
  if (runs.length === 0) {
    console.error(`interop: no case matches ${JSON.stringify(args.only)} (see --list)`);
    return 2;
  }
  for (const s of [netnsSupport(), strongswanSupport(), pkiSupport()]) {
    if (!s.ok) {
      console.error(`interop: cannot run here: ${s.why}`);
      return 77;
    }
  }
  const results: CaseResult[] = [];
  const started = Date.now();
  for (const [i, r] of runs.entries()) {
    process.stderr.write(`[${i + 1}/${runs.length}] ${r.name} ... `);
    const res = await runCase(r.c, r.role);
    results.push(res);
    process.stderr.write(`${res.result} (${res.seconds}s)\n`);
    for (const n of res.notes) process.stderr.write(`    note: ${n}\n`);
    if (res.result === 'fail') {
      for (const p of res.problems) process.stderr.write(`    - ${p.replace(/\n/g, '\n      ')}\n`);
      if (args.logs && res.logs) process.stderr.write(`  --- tsvpn log ---\n${res.logs.tsvpn}\n  --- charon log ---\n${res.logs.strongswan}\n`);
    }
  }
  console.log(`\n${table(results)}`);
  const failed = results.filter((r) => r.result === 'fail').length;
  console.log(`\n${results.length - failed} passed, ${failed} failed, ${Math.round((Date.now() - started) / 1000)} s`);
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`interop: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
