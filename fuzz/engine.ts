// The fuzzing loop: mutate a corpus entry (or take a structured input from the target's
// fast-check generator), run the target, time it, and keep inputs that reach new V8 blocks
// (coverage.ts). Coverage is read once per window of executions; when a window found new
// blocks, it is bisected by replaying halves until the inputs that found them are isolated.
// Block coverage costs about 10x in speed, so it runs for `guidedShare` of each minute.
// A crash is any exception the target lets out; a hang is an execution over `hangMs` that is
// as slow again when repeated (one slow run alone is a GC pause or the JIT, and is counted
// as `slowOnce`).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Coverage } from './coverage.js';
import { mutate, Rng } from './mutate.js';
import { isTypedError, type FuzzTarget } from './target.js';

export interface CampaignOptions {
  runs?: number;
  seconds?: number;
  seed?: number;
  /** V8 block coverage feedback (default on). */
  coverage?: boolean;
  /** executions between coverage reads */
  window?: number;
  /**
   * Share of each minute spent with coverage feedback (default 0.25): the rest mutates the
   * corpus grown so far at full speed, still checking for crashes and hangs.
   */
  guidedShare?: number;
  hangMs?: number;
  /** where crashing and hanging inputs are written (hex and error), if given */
  findingsDir?: string;
  /** progress lines, about every `reportSeconds` */
  log?: (line: string) => void;
  reportSeconds?: number;
}

export interface Finding {
  kind: 'crash' | 'hang';
  input: Uint8Array;
  error: string;
  ms: number;
}

export interface CampaignResult {
  target: string;
  execs: number;
  seconds: number;
  execPerSec: number;
  seedInputs: number;
  /** inputs kept for new coverage */
  added: number;
  /** covered blocks of src/ and what is known of the files reached (with coverage on) */
  reach?: { files: number; functions: number; blocks: number; covered: number };
  /** the first input of each kind of crash, and the first hang */
  crashes: Finding[];
  hangs: Finding[];
  /** all crashing and hanging executions */
  crashCount: number;
  hangCount: number;
  slowOnce: number;
  /** the slowest single execution of a fuzzing input (replays excluded), to time again alone */
  slowestMs: number;
  slowestInput: Uint8Array;
}

const describe = (e: unknown) => (e instanceof Error ? e.stack ?? `${e.name}: ${e.message}` : String(e));

export function runCampaign(target: FuzzTarget, corpus: readonly Uint8Array[], o: CampaignOptions = {}): CampaignResult {
  const rng = new Rng(o.seed ?? 1);
  const maxLength = target.maxLength ?? 4096;
  const hangMs = o.hangMs ?? 100;
  const window = o.window ?? 4000;
  const dict = target.dictionary ?? [];
  const pool: Uint8Array[] = corpus.length ? corpus.map((c) => c.slice(0, maxLength)) : [new Uint8Array(0)];
  const crashes: Finding[] = [];
  const hangs: Finding[] = [];
  const seenCrash = new Set<string>();
  let slowOnce = 0;
  let slowestMs = 0;
  let slowestInput: Uint8Array = new Uint8Array(0);

  let crashCount = 0;
  let hangCount = 0;
  /** Counts every finding; keeps the first of each kind of crash (message and top frame) and the first hang. */
  const record = (f: Finding) => {
    if (f.kind === 'crash') crashCount++;
    else hangCount++;
    const key = f.kind === 'hang' ? 'hang' : `crash:${f.error.split('\n').slice(0, 2).join('|')}`;
    if (seenCrash.has(key)) return;
    seenCrash.add(key);
    (f.kind === 'crash' ? crashes : hangs).push(f);
    o.log?.(`${f.kind.toUpperCase()} (${f.ms.toFixed(1)} ms) input ${Buffer.from(f.input).toString('hex').slice(0, 400)}\n${f.error}`);
    if (o.findingsDir) {
      mkdirSync(o.findingsDir, { recursive: true });
      const id = createHash('sha1').update(f.input).digest('hex').slice(0, 16);
      writeFileSync(join(o.findingsDir, `${target.name}-${f.kind}-${id}.txt`), `${Buffer.from(f.input).toString('hex')}\n${f.error}\n`);
    }
  };

  /** One execution; returns false when it crashed. */
  const exec = (input: Uint8Array, check: boolean): boolean => {
    const t0 = performance.now();
    try {
      target.run(input);
    } catch (e) {
      if (isTypedError(e)) return true; // a refusal, as designed
      if (check) record({ kind: 'crash', input: input.slice(), error: describe(e), ms: performance.now() - t0 });
      return false;
    }
    const ms = performance.now() - t0;
    if (ms > slowestMs && check) {
      slowestMs = ms;
      slowestInput = input;
    }
    if (check && ms > hangMs) {
      const t1 = performance.now();
      try {
        target.run(input);
      } catch {
        // a crash on the repeat is found again by the loop
      }
      const again = performance.now() - t1;
      if (again > hangMs) record({ kind: 'hang', input: input.slice(), error: `took ${ms.toFixed(1)} ms, then ${again.toFixed(1)} ms`, ms });
      else slowOnce++;
    }
    return true;
  };

  const cov = o.coverage === false ? undefined : new Coverage();
  const CYCLE_MS = 60_000;
  const guidedMs = CYCLE_MS * (o.guidedShare ?? 0.25);
  let added = 0;
  /** Replays `list`; if it reaches new blocks, narrows down to the inputs that do. */
  const isolate = (list: Uint8Array[]): void => {
    cov!.take();
    for (const x of list) exec(x, false);
    const ran = cov!.take();
    if (cov!.fresh(ran).length === 0) return;
    if (list.length === 1) {
      pool.push(list[0]);
      cov!.add(ran);
      added++;
      return;
    }
    const half = list.length >> 1;
    isolate(list.slice(0, half));
    isolate(list.slice(half));
  };

  // the seed corpus as the baseline: once to warm up (lazy schema compilation, the JIT), then timed
  cov?.take();
  for (const c of pool) exec(c, false);
  for (const c of pool) exec(c, true);
  if (cov) cov.add(cov.take());

  let generated: Uint8Array[] = [];
  let genSeed = o.seed ?? 1;
  const runs = o.runs ?? Infinity;
  const deadline = o.seconds !== undefined ? performance.now() + o.seconds * 1000 : Infinity;
  const start = performance.now();
  const reportEvery = (o.reportSeconds ?? 10) * 1000;
  let nextReport = start + reportEvery;
  let windowInputs: Uint8Array[] = [];
  let execs = 0;
  const other = () => pool[rng.below(pool.length)];
  const status = (now: number) =>
    `#${execs} cov: ${cov ? cov.features.size : '-'} corp: ${pool.length} exec/s: ${Math.round(execs / ((now - start) / 1000))} crashes: ${crashCount} hangs: ${hangCount}`;

  while (execs < runs) {
    let input: Uint8Array;
    if (target.generate && rng.below(8) === 0) {
      if (generated.length === 0) generated = target.generate(genSeed++, 256);
      input = generated.pop()!;
    } else {
      // favour the newest entries (found most recently, likeliest to lead further)
      const recent = rng.below(2) === 0 && pool.length > 8;
      const base = recent ? pool[pool.length - 1 - rng.below(Math.max(1, pool.length >> 3))] : pool[rng.below(pool.length)];
      input = mutate(base, rng, dict, other, maxLength);
    }
    exec(input, true);
    execs++;
    if (cov?.running) {
      windowInputs.push(input);
      if (windowInputs.length >= window) {
        const ran = cov.take();
        if (cov.fresh(ran).length > 0) isolate(windowInputs);
        cov.add(ran);
        windowInputs = [];
      }
    }
    if ((execs & 255) === 0) {
      const now = performance.now();
      if (now >= deadline) break;
      if (cov) {
        const guided = (now - start) % CYCLE_MS < guidedMs;
        if (guided && !cov.running) {
          cov.start();
          cov.take(); // nothing ran under it yet; starts the first window clean
        } else if (!guided && cov.running) {
          cov.pause();
          windowInputs = [];
        }
      }
      if (now >= nextReport) {
        o.log?.(status(now));
        nextReport = now + reportEvery;
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;
  o.log?.(status(performance.now()));
  const reach = cov?.reach();
  cov?.stop();
  return { target: target.name, execs, seconds, execPerSec: Math.round(execs / seconds), seedInputs: corpus.length, added, reach, crashes, hangs, crashCount, hangCount, slowOnce, slowestMs, slowestInput };
}
