// Coverage feedback from V8's block coverage (the inspector's Profiler domain, in process):
// no instrumentation pass, and it sees exactly the code that ran. takePreciseCoverage()
// returns per-function block ranges with execution counts since the previous take and
// resets them. V8 leaves out a block whose count equals its parent's, so a block is known
// by the ranges ever reported and judged by the innermost range reported now that holds it.
// A feature is a block of a file under src/ that ran; an input that adds features is kept.
import { Session } from 'node:inspector';

interface Range { startOffset: number; endOffset: number; count: number }
interface FunctionCoverage { functionName: string; ranges: Range[] }
interface ScriptCoverage { url: string; functions: FunctionCoverage[] }

const SRC = '/src/';

export class Coverage {
  private readonly session = new Session();
  /** every block range seen, per function (url + function start) */
  private readonly known = new Map<string, Set<string>>();
  /** features (covered blocks) found so far */
  readonly features = new Set<string>();

  private on = false;

  constructor() {
    this.session.connect();
    this.post('Profiler.enable');
    this.start();
  }

  get running(): boolean {
    return this.on;
  }

  /** Block counting slows V8 down (about 10x here): the engine turns it on for part of the time. */
  start(): void {
    if (this.on) return;
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.on = true;
  }

  pause(): void {
    if (!this.on) return;
    this.post('Profiler.stopPreciseCoverage'); // lets V8 run optimized code again
    this.on = false;
  }

  private post(method: string, params?: object): unknown {
    let result: unknown;
    let error: Error | null = null;
    // a session on the main thread answers synchronously
    this.session.post(method, params, (e, r) => {
      error = e;
      result = r;
    });
    if (error) throw error;
    return result;
  }

  /** Blocks that ran since the last call (and were never seen before when `onlyNew`). */
  take(): Set<string> {
    const { result } = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const ran = new Set<string>();
    for (const script of result) {
      if (!script.url.includes(SRC) || script.url.includes('/node_modules/')) continue;
      for (const fn of script.functions) {
        const top = fn.ranges[0];
        if (!top) continue;
        const fkey = `${script.url}:${top.startOffset}`;
        let blocks = this.known.get(fkey);
        if (!blocks) this.known.set(fkey, (blocks = new Set()));
        for (const r of fn.ranges) blocks.add(`${r.startOffset}-${r.endOffset}`);
        if (top.count === 0 && fn.ranges.length === 1) continue;
        for (const b of blocks) {
          const dash = b.indexOf('-');
          const s = Number(b.slice(0, dash));
          const e = Number(b.slice(dash + 1));
          // innermost reported range holding the block: the one starting last among those that contain it
          let count = 0;
          let best = -1;
          for (const r of fn.ranges) {
            if (r.startOffset <= s && r.endOffset >= e && r.startOffset >= best) {
              best = r.startOffset;
              count = r.count;
            }
          }
          if (count > 0) ran.add(`${fkey}:${b}`);
        }
      }
    }
    return ran;
  }

  /** The blocks in `ran` not yet features. */
  fresh(ran: Set<string>): string[] {
    return [...ran].filter((f) => !this.features.has(f));
  }

  add(ran: Iterable<string>): void {
    for (const f of ran) this.features.add(f);
  }

  /** Files under src/ and blocks (ranges) known in them, for the summary. */
  reach(): { files: number; functions: number; blocks: number; covered: number } {
    const files = new Set<string>();
    let blocks = 0;
    for (const [k, v] of this.known) {
      files.add(k.slice(0, k.lastIndexOf(':')));
      blocks += v.size;
    }
    return { files: files.size, functions: this.known.size, blocks, covered: this.features.size };
  }

  stop(): void {
    this.pause();
    this.session.disconnect();
  }
}
