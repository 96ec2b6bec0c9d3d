#!/usr/bin/env node
// Runs the vitest suite and ends with the plain closing line CI reads:
// "tests: N passed, N failed, N skipped". Exit code is vitest's own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'tsvpn-test-'));
const out = join(dir, 'vitest.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit' });
let code = run.status ?? 1;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  printInteropTable(r);
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) code = code || 1;
} catch (e) {
  console.log(`\ntests: 0 passed, 1 failed (no vitest report: ${e.message})`);
  code = code || 1;
}
rmSync(dir, { recursive: true, force: true });
process.exit(code);

/** The strongSwan interop matrix (test/interop/matrix.test.ts) as a table: case and role, result, time, evidence. */
function printInteropTable(report) {
  const file = report.testResults?.find((f) => f.name.endsWith('test/interop/matrix.test.ts'));
  const rows = file?.assertionResults ?? [];
  if (rows.length === 0) return;
  const width = Math.max(...rows.map((a) => a.title.length), 4);
  console.log(`\ninterop matrix: tsvpn against strongSwan (${rows.length} runs)`);
  console.log(`${'case (tsvpn role)'.padEnd(width)}  result   time`);
  for (const a of rows) {
    const result = a.status === 'passed' ? 'pass' : a.status === 'failed' ? 'FAIL' : a.status;
    const secs = a.duration ? `${(a.duration / 1000).toFixed(1)}s` : '-';
    console.log(`${a.title.padEnd(width)}  ${result.padEnd(7)}  ${secs}`);
    if (a.status === 'failed') {
      const why = (a.failureMessages?.[0] ?? '').split('\n').slice(0, 6).join('\n      ');
      console.log(`      ${why}`);
    }
  }
}
