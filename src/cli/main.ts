// `tsvpn` entry: parse the command line, run one command, return the process exit code.
// The daemon and config modules are imported only by the commands that need them, so
// `tsvpn --help`, `status` and `down` start quickly.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { parseArgs, UsageError, type Command, type TunnelRef } from './args.js';
import { controlDir, ControlError, fetchMetrics, fetchStatus, followEvents, listTunnels, NoPermissionError, NotRunningError, requestDown, requestReload } from './control-client.js';
import { formatStatus } from './format-status.js';
import type { Io } from './streams.js';
import { commandSpec, commandUsage, overview } from './usage.js';

export type { Io } from './streams.js';

// `tsvpn demo | head` closes stdout early: the output is lost, but the command carries on
// (the demo must still clean up), instead of dying on EPIPE; a command that follows a stream
// (`tsvpn events | head`) is told through Io.outClosed and stops
let pipeGuard = false;
const stdoutGone = new AbortController();
function guardStdout(): void {
  if (pipeGuard) return;
  pipeGuard = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      if (stream === process.stdout) stdoutGone.abort();
    });
  }
}

const processIo: Io = {
  out: (t) => {
    guardStdout();
    process.stdout.write(t);
  },
  err: (t) => {
    guardStdout();
    process.stderr.write(t);
  },
  env: process.env,
  outClosed: stdoutGone.signal,
};

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The tunnels that are running, for a "not running" message: which ones are. */
function runningText(dir: string): string {
  try {
    const names = listTunnels(dir);
    return names.length ? `running: ${names.join(', ')}` : 'no tunnel is running';
  } catch {
    return 'cannot list the running tunnels';
  }
}

/** Errors the control client raises become one line on stderr and exit code 1. */
function controlFailure(io: Io, e: unknown): number {
  if (e instanceof NotRunningError) {
    io.err(`tsvpn: ${e.message}; ${runningText(dirname(e.path))}\n`);
    return 1;
  }
  if (e instanceof NoPermissionError || e instanceof ControlError) {
    io.err(`tsvpn: ${e.message}\n`);
    return 1;
  }
  throw e;
}

/** The tunnel's name: as given, or read from the peer file (exit 2 when it cannot be). */
async function nameOf(cmd: string, t: TunnelRef, io: Io): Promise<string | number> {
  if ('name' in t) return t.name;
  const { tunnelNameOf } = await import('./tunnel-name.js'); // the config loader, only when a file is given
  const r = tunnelNameOf(t.file);
  if (typeof r === 'string') return r;
  io.err(`tsvpn: ${cmd}: ${r.error}\n`);
  return 2;
}

async function status(cmd: Extract<Command, { cmd: 'status' }>, io: Io): Promise<number> {
  const dir = controlDir(io.env);
  if (cmd.tunnel !== undefined) {
    const name = await nameOf('status', cmd.tunnel, io);
    if (typeof name === 'number') return name;
    try {
      const s = await fetchStatus(dir, name);
      io.out((cmd.json ? JSON.stringify(s, null, 2) : formatStatus(s)) + '\n');
      return 0;
    } catch (e) {
      return controlFailure(io, e);
    }
  }
  let names: string[];
  try {
    names = listTunnels(dir);
  } catch (e) {
    return controlFailure(io, e);
  }
  if (names.length === 0) {
    if (cmd.json) io.out('[]\n');
    else io.out(`no tunnels running (no sockets in ${dir})\n`);
    return 0;
  }
  let code = 0;
  const all = [];
  for (const name of names) {
    try {
      all.push(await fetchStatus(dir, name));
    } catch (e) {
      code = controlFailure(io, e);
    }
  }
  if (cmd.json) io.out(JSON.stringify(all, null, 2) + '\n');
  else if (all.length > 0) io.out(all.map(formatStatus).join('\n\n') + '\n');
  return code;
}

async function down(t: TunnelRef, io: Io): Promise<number> {
  const name = await nameOf('down', t, io);
  if (typeof name === 'number') return name;
  try {
    await requestDown(controlDir(io.env), name);
    io.out(`tunnel ${name} is down\n`);
    return 0;
  } catch (e) {
    return controlFailure(io, e);
  }
}

/** The tunnel named, or without a name the only one running (an exit code when there is none or several). */
async function oneTunnel(cmd: string, t: TunnelRef | undefined, dir: string, io: Io): Promise<string | number> {
  if (t !== undefined) return nameOf(cmd, t, io);
  let names: string[];
  try {
    names = listTunnels(dir);
  } catch (e) {
    return controlFailure(io, e);
  }
  if (names.length !== 1) {
    io.err(`tsvpn: ${cmd}: ${names.length === 0 ? `no daemon running (no sockets in ${dir})` : `name one of ${names.join(', ')}`}\n`);
    return 2;
  }
  return names[0]!;
}

/** As oneTunnel, but with no daemon running a name of '' (diagnose reports that as its first failing step). */
async function oneTunnelOrNone(cmd: string, t: TunnelRef | undefined, dir: string, io: Io): Promise<string | number> {
  if (t === undefined) {
    try {
      if (listTunnels(dir).length === 0) return '';
    } catch {
      return '';
    }
  }
  return oneTunnel(cmd, t, dir, io);
}

async function reload(t: TunnelRef | undefined, io: Io): Promise<number> {
  const dir = controlDir(io.env);
  const name = await oneTunnel('reload', t, dir, io);
  if (typeof name === 'number') return name;
  try {
    io.out(`${name}: reloaded: ${await requestReload(dir, name)}\n`);
    return 0;
  } catch (e) {
    return controlFailure(io, e);
  }
}

async function events(cmd: Extract<Command, { cmd: 'events' }>, io: Io): Promise<number> {
  const dir = controlDir(io.env);
  const name = await oneTunnel('events', cmd.tunnel, dir, io);
  if (typeof name === 'number') return name;
  const { eventText } = await import('../daemon/event-lines.js');
  try {
    await followEvents(
      dir,
      name,
      (l) => io.out(`${cmd.json ? JSON.stringify(l) : eventText(l)}\n`),
      () => io.err(`tsvpn: following the events of ${name} (Ctrl-C to stop)\n`),
      io.outClosed,
    );
    if (io.outClosed?.aborted) return 0; // the reader went away (`| head`): not the tunnel
    io.err(`tsvpn: tunnel ${name} went down\n`);
    return 0;
  } catch (e) {
    return controlFailure(io, e);
  }
}

async function metrics(t: TunnelRef | undefined, io: Io): Promise<number> {
  const dir = controlDir(io.env);
  const name = await oneTunnel('metrics', t, dir, io);
  if (typeof name === 'number') return name;
  try {
    io.out(await fetchMetrics(dir, name));
    return 0;
  } catch (e) {
    return controlFailure(io, e);
  }
}

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const spec = e.command === undefined ? undefined : commandSpec(e.command);
    io.err(`tsvpn: ${e.message}\n\n${spec ? commandUsage(spec) : overview()}\n`);
    return 2;
  }
  switch (cmd.cmd) {
    case 'help': {
      const spec = cmd.topic === undefined ? undefined : commandSpec(cmd.topic);
      io.out(`${spec ? commandUsage(spec) : overview()}\n`);
      return 0;
    }
    case 'version':
      io.out(`tsvpn ${version()}\n`);
      return 0;
    case 'status':
      return status(cmd, io);
    case 'down':
      return down(cmd.tunnel, io);
    case 'reload':
      return reload(cmd.tunnel, io);
    case 'events':
      return events(cmd, io);
    case 'metrics':
      return metrics(cmd.tunnel, io);
    case 'diagnose': {
      const dir = controlDir(io.env);
      const name = await oneTunnelOrNone('diagnose', cmd.tunnel, dir, io);
      if (typeof name === 'number') return name;
      const { runDiagnose } = await import('./diagnose.js');
      return runDiagnose(name, dir, cmd.json, io);
    }
    case 'up': {
      const { runUp } = await import('./up.js');
      return runUp(cmd.file, cmd.log, io, { saveKeys: cmd.saveKeys, metrics: { file: cmd.metricsFile, listen: cmd.metricsListen } });
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo({ keep: cmd.keep, verbose: cmd.verbose }, io);
    }
    case 'echo': {
      const { runEcho } = await import('./echo.js');
      return runEcho(cmd, io);
    }
  }
}
