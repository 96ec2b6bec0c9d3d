// Command-line parsing for `tsvpn`: argv -> one typed command, or a UsageError that main
// prints with the usage text (exit code 2). No I/O here, so every case is testable. The
// commands and their options come from usage.ts, the same table --help prints.

import type { LogFormat, LogLevel } from '../daemon/log.js';
import { parseLoopbackListen, type ListenAddress } from './listen-address.js';
import { commandSpec, type OptionSpec } from './usage.js';

/** Tunnel names as peer.json allows them (they become /run/tsvpn/<name>.sock). */
export const TUNNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

export type Command =
  | { cmd: 'up'; file: string; log: { level: LogLevel; format: LogFormat }; saveKeys?: string /* --save-keys <dir> */; metricsFile?: string; metricsListen?: ListenAddress }
  | { cmd: 'down'; tunnel: TunnelRef }
  | { cmd: 'reload'; tunnel?: TunnelRef }
  | { cmd: 'status'; json: boolean; tunnel?: TunnelRef }
  | { cmd: 'events'; json: boolean; tunnel?: TunnelRef }
  | { cmd: 'metrics'; tunnel?: TunnelRef }
  | { cmd: 'diagnose'; json: boolean; tunnel?: TunnelRef }
  | { cmd: 'demo'; keep: boolean; verbose: boolean }
  | { cmd: 'help'; topic?: string }
  | { cmd: 'version' }
  // internal: a UDP echo server or client run inside a namespace by `tsvpn demo`
  | { cmd: 'echo'; role: 'server' | 'client'; local: string; remote?: string; port: number; count: number };

/** A running tunnel named on the command line: by name, or by the peer file it was started from. */
export type TunnelRef = { name: string } | { file: string };

export class UsageError extends Error {
  override name = 'UsageError';
  /** The command whose usage goes with the message (the overview when absent). */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

interface Split {
  flags: Set<string>;
  /** Options that take a value: key -> the value given (checked against its choices). */
  values: Map<string, string>;
  positional: string[];
}

/** The flags of a command as usage.ts lists them: spelling -> its option. */
function knownFlags(cmd: string): Record<string, OptionSpec> {
  const known: Record<string, OptionSpec> = {};
  for (const o of commandSpec(cmd)?.options ?? []) for (const f of o.flags) known[f] = o;
  return known;
}

/** Separates flags from positional arguments, refusing flags the command does not know. */
function split(cmd: string, args: string[]): Split {
  const known = knownFlags(cmd);
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const positional: string[] = [];
  let onlyPositional = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!onlyPositional && a === '--') {
      onlyPositional = true;
    } else if (!onlyPositional && a.startsWith('-') && a.length > 1) {
      // '--log-level=warn' is '--log-level warn'
      const eq = a.startsWith('--') ? a.indexOf('=') : -1;
      const flag = eq < 0 ? a : a.slice(0, eq);
      const o = known[flag];
      if (o === undefined || (eq >= 0 && !o.value)) {
        const list = Object.keys(known);
        throw new UsageError(`${cmd}: unknown option ${a}` + (list.length ? ` (expected ${list.join(', ')})` : ''), cmd);
      }
      if (!o.value) {
        flags.add(o.key);
        continue;
      }
      const v = eq >= 0 ? a.slice(eq + 1) : args[++i];
      const choices = o.value.choices;
      if (choices === undefined && (v === undefined || v === '' || v.startsWith('-'))) throw new UsageError(`${cmd}: ${flag} takes a ${o.value.name}`, cmd);
      if (v === undefined || (choices !== undefined && !choices.includes(v))) {
        throw new UsageError(`${cmd}: ${flag} takes one of ${choices?.join(', ')}` + (v === undefined ? '' : `, not ${JSON.stringify(v)}`), cmd);
      }
      const before = values.get(o.key);
      if (before !== undefined && before !== v) throw new UsageError(`${cmd}: ${flag} given twice (${before}, ${v})`, cmd);
      values.set(o.key, v);
    } else {
      positional.push(a);
    }
  }
  return { flags, values, positional };
}

/** `up`'s log options: -v is --log-level debug, and the two must not disagree. */
function logOptions(cmd: string, s: Split): { level: LogLevel; format: LogFormat } {
  const level = s.values.get('logLevel') as LogLevel | undefined;
  if (s.flags.has('verbose') && level !== undefined && level !== 'debug') throw new UsageError(`${cmd}: -v means --log-level debug, not ${level}`, cmd);
  return { level: s.flags.has('verbose') ? 'debug' : (level ?? 'info'), format: (s.values.get('logFormat') as LogFormat | undefined) ?? 'text' };
}

function checkName(cmd: string, name: string): string {
  if (!TUNNEL_NAME.test(name)) {
    throw new UsageError(`${cmd}: ${JSON.stringify(name)} is not a tunnel name (letters, digits, "_", ".", "-"; up to 32; as in peer.json "name") nor a peer file (a path with "/" or ending in .json)`, cmd);
  }
  return name;
}

/** A name, or a peer file when it looks like a path (wg-quick takes either). */
function tunnelRef(cmd: string, text: string): TunnelRef {
  if (text.includes('/') || text.endsWith('.json')) return { file: text };
  return { name: checkName(cmd, text) };
}

function arity(cmd: string, positional: string[], min: number, max: number, what: string): void {
  if (positional.length < min) throw new UsageError(`${cmd}: missing ${what}`, cmd);
  if (positional.length > max) throw new UsageError(`${cmd}: unexpected argument ${JSON.stringify(positional[max])}`, cmd);
}

function intArg(cmd: string, text: string | undefined, what: string, lo: number, hi: number): number {
  const n = Number(text);
  if (text === undefined || !/^[0-9]+$/.test(text) || n < lo || n > hi) throw new UsageError(`${cmd}: ${what} must be an integer from ${lo} to ${hi}`);
  return n;
}

export function parseArgs(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('missing command');
  switch (first) {
    case 'help':
    case '--help':
    case '-h': {
      const topic = rest[0];
      if (topic === undefined) return { cmd: 'help' };
      if (commandSpec(topic) === undefined) throw new UsageError(`help: unknown command ${JSON.stringify(topic)}`);
      return { cmd: 'help', topic };
    }
    case 'version':
    case '--version':
    case '-V':
      return { cmd: 'version' };
    case 'up': {
      const s = split('up', rest);
      if (s.flags.has('help')) return { cmd: 'help', topic: 'up' };
      arity('up', s.positional, 1, 1, 'the peer file (tsvpn up <peer.json>)');
      const metricsFile = s.values.get('metricsFile');
      const listen = s.values.get('metricsListen');
      const metricsListen = listen === undefined ? undefined : parseLoopbackListen(listen);
      if (metricsListen && 'error' in metricsListen) throw new UsageError(`up: --metrics-listen: ${metricsListen.error}`, 'up');
      const saveKeys = s.values.get('saveKeys');
      return { cmd: 'up', file: s.positional[0]!, log: logOptions('up', s), ...(saveKeys !== undefined ? { saveKeys } : {}), ...(metricsFile !== undefined ? { metricsFile } : {}), ...(metricsListen ? { metricsListen } : {}) };
    }
    case 'down': {
      const s = split('down', rest);
      if (s.flags.has('help')) return { cmd: 'help', topic: 'down' };
      arity('down', s.positional, 1, 1, 'the tunnel name or peer file (tsvpn down <name|peer.json>)');
      return { cmd: 'down', tunnel: tunnelRef('down', s.positional[0]!) };
    }
    case 'reload':
    case 'status':
    case 'events':
    case 'diagnose':
    case 'metrics': {
      // commands on one running tunnel, named or not
      const s = split(first, rest);
      if (s.flags.has('help')) return { cmd: 'help', topic: first };
      arity(first, s.positional, 0, 1, first === 'reload' ? 'the tunnel name or its file (tsvpn reload [name|file])' : 'tunnel name');
      const arg = s.positional[0];
      const tunnel = arg === undefined ? {} : { tunnel: tunnelRef(first, arg) };
      if (first === 'status' || first === 'events' || first === 'diagnose') return { cmd: first, json: s.flags.has('json'), ...tunnel };
      return { cmd: first, ...tunnel };
    }
    case 'demo': {
      const s = split('demo', rest);
      if (s.flags.has('help')) return { cmd: 'help', topic: 'demo' };
      arity('demo', s.positional, 0, 0, '');
      return { cmd: 'demo', keep: s.flags.has('keep'), verbose: s.flags.has('verbose') };
    }
    case '__echo': {
      // __echo server <local> <port> | __echo client <local> <remote> <port> <count>
      const [role, local, ...more] = rest;
      if (role === 'server' && local !== undefined && more.length === 1) {
        return { cmd: 'echo', role, local, port: intArg('__echo', more[0], 'port', 1, 65535), count: 0 };
      }
      if (role === 'client' && local !== undefined && more.length === 3) {
        return { cmd: 'echo', role, local, remote: more[0], port: intArg('__echo', more[1], 'port', 1, 65535), count: intArg('__echo', more[2], 'count', 1, 1000) };
      }
      throw new UsageError('__echo: expected "server <local> <port>" or "client <local> <remote> <port> <count>"');
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(first)}`);
  }
}
