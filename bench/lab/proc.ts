// Processes and cleanup for the whole-tunnel bench: every process the bench starts is
// tracked here and every teardown step is registered, so Ctrl-C, SIGTERM, an error or a
// normal exit all leave no process, namespace or temp file behind.

import { spawn, type ChildProcess } from 'node:child_process';

export class BenchError extends Error {
  override name = 'BenchError';
}

export interface Started {
  readonly child: ChildProcess;
  /** Output so far (stdout and stderr interleaved), capped at 64 KiB. */
  output(): string;
  /** Resolves with the exit code (or 128 + signal number) once the process is gone. */
  readonly exited: Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<number>;
}

const children = new Set<Started>();
const undo: { label: string; fn: () => void | Promise<void> }[] = [];
let hooked = false;
let stopping = false;

/** True once a signal asked the bench to stop: start nothing new. */
export function aborted(): boolean {
  return stopping;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Start `cmd args` inside namespace `ns` (or in this one when ns is undefined). */
export function start(ns: string | undefined, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Started {
  hookSignals();
  const argv = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
  const child = spawn(ns ? 'ip' : cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const take = (d: Buffer): void => {
    if (out.length < 65536) out += d.toString('utf8');
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<number>((resolve) => {
    child.on('error', (e) => {
      out += `\n${cmd}: ${e.message}`;
      resolve(127);
    });
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (SIGNALS[sig] ?? 0) : 0)));
  });
  const s: Started = {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 3000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      children.delete(s);
      return exited;
    },
  };
  children.add(s);
  void exited.then(() => children.delete(s));
  return s;
}

/** Run a command to completion (killed after timeoutMs); returns exit code and output. */
export async function run(
  ns: string | undefined,
  cmd: string,
  args: string[],
  o: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  hookSignals();
  const argv = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
  const child = spawn(ns ? 'ip' : cmd, argv, { env: { ...process.env, ...o.env }, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  if (child.stdin) {
    child.stdin.on('error', () => {}); // a command that exits without reading its input: EPIPE is not ours to report
    child.stdin.end(o.input);
  }
  const tracked: Started = {
    child,
    output: () => stdout + stderr,
    exited: Promise.resolve(0),
    stop: async () => {
      child.kill('SIGKILL');
      return 137;
    },
  };
  children.add(tracked);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30000);
  try {
    const code = await new Promise<number>((resolve) => {
      child.on('error', (e) => {
        stderr += `${cmd}: ${e.message}`;
        resolve(127);
      });
      child.on('close', (c, sig) => resolve(c ?? 128 + (sig ? (SIGNALS[sig] ?? 0) : 0)));
    });
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    children.delete(tracked);
  }
}

/** Like run(), but throws BenchError naming the command and its stderr when it fails. */
export async function must(ns: string | undefined, cmd: string, args: string[], o: Parameters<typeof run>[3] = {}): Promise<string> {
  const r = await run(ns, cmd, args, o);
  if (r.code !== 0) {
    const where = ns ? ` (in ${ns})` : '';
    throw new BenchError(`${cmd} ${args.join(' ')}${where} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 400)}`);
  }
  return r.stdout;
}

/** Register a teardown step; steps run newest first. Returns a function that runs it now. */
export function onCleanup(label: string, fn: () => void | Promise<void>): () => Promise<void> {
  hookSignals();
  const entry = { label, fn };
  undo.push(entry);
  return async () => {
    const i = undo.indexOf(entry);
    if (i < 0) return;
    undo.splice(i, 1);
    await fn();
  };
}

/** Stop every tracked process and run every registered teardown step. Never throws. */
export async function cleanupAll(): Promise<string[]> {
  const errors: string[] = [];
  await Promise.all([...children].map((c) => c.stop(1000).catch(() => 0)));
  while (undo.length > 0) {
    const e = undo.pop()!;
    try {
      await e.fn();
    } catch (err) {
      errors.push(`${e.label}: ${(err as Error).message}`);
    }
  }
  return errors;
}

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      stopping = true;
      process.stderr.write(`\n${sig}: stopping everything the bench started...\n`);
      void cleanupAll().then((errs) => {
        for (const e of errs) process.stderr.write(`cleanup: ${e}\n`);
        process.exit(128 + (SIGNALS[sig] ?? 0));
      });
    });
  }
}
