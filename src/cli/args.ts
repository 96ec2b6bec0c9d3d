// Command-line parsing for `tsvpn`: argv -> one typed command, or a UsageError that main
// prints with the usage text (exit code 2). No I/O here, so every case is testable.

export const USAGE = `usage: tsvpn <command> [options]

commands:
  up <peer.json> [-v|--verbose]   start the tunnel described by peer.json in the foreground
                                  (logs to stderr; Ctrl-C or SIGTERM takes it down)
  down <name>                     take a running tunnel down (Delete sent, routes removed)
  status [--json] [name]          show one tunnel, or every tunnel in the control directory
  demo [--keep] [-v|--verbose]    two lab hosts in network namespaces, a tunnel between them,
                                  traffic through it, status of both ends, then clean up
                                  (--keep leaves it running; needs root and iproute2)
  help                            this text
  --version                       print the version

environment:
  TSVPN_CONTROL_DIR   directory of the control sockets (default /run/tsvpn)

exit codes: 0 success, 1 failure (tunnel not running, timeout, error), 2 usage or config error`;

/** Tunnel names as peer.json allows them (they become /run/tsvpn/<name>.sock). */
export const TUNNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

export type Command =
  | { cmd: 'up'; file: string; verbose: boolean }
  | { cmd: 'down'; name: string }
  | { cmd: 'status'; json: boolean; name?: string }
  | { cmd: 'demo'; keep: boolean; verbose: boolean }
  | { cmd: 'help' }
  | { cmd: 'version' }
  // internal: a UDP echo server or client run inside a namespace by `tsvpn demo`
  | { cmd: 'echo'; role: 'server' | 'client'; local: string; remote?: string; port: number; count: number };

export class UsageError extends Error {
  override name = 'UsageError';
}

interface Split {
  flags: Set<string>;
  positional: string[];
}

/** Separates flags from positional arguments, refusing flags the command does not know. */
function split(cmd: string, args: string[], known: Record<string, string>): Split {
  const flags = new Set<string>();
  const positional: string[] = [];
  let onlyPositional = false;
  for (const a of args) {
    if (!onlyPositional && a === '--') {
      onlyPositional = true;
    } else if (!onlyPositional && a.startsWith('-') && a.length > 1) {
      const canonical = known[a];
      if (canonical === undefined) {
        const list = Object.keys(known);
        throw new UsageError(`${cmd}: unknown option ${a}` + (list.length ? ` (expected ${list.join(', ')})` : ''));
      }
      flags.add(canonical);
    } else {
      positional.push(a);
    }
  }
  return { flags, positional };
}

function checkName(cmd: string, name: string): string {
  if (!TUNNEL_NAME.test(name)) {
    throw new UsageError(`${cmd}: ${JSON.stringify(name)} is not a tunnel name (letters, digits, "_", ".", "-"; up to 32; as in peer.json "name")`);
  }
  return name;
}

function arity(cmd: string, positional: string[], min: number, max: number, what: string): void {
  if (positional.length < min) throw new UsageError(`${cmd}: missing ${what}`);
  if (positional.length > max) throw new UsageError(`${cmd}: unexpected argument ${JSON.stringify(positional[max])}`);
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
    case '-h':
      return { cmd: 'help' };
    case 'version':
    case '--version':
    case '-V':
      return { cmd: 'version' };
    case 'up': {
      const s = split('up', rest, { '-v': 'verbose', '--verbose': 'verbose' });
      arity('up', s.positional, 1, 1, 'the peer file (tsvpn up <peer.json>)');
      return { cmd: 'up', file: s.positional[0]!, verbose: s.flags.has('verbose') };
    }
    case 'down': {
      const s = split('down', rest, {});
      arity('down', s.positional, 1, 1, 'the tunnel name (tsvpn down <name>)');
      return { cmd: 'down', name: checkName('down', s.positional[0]!) };
    }
    case 'status': {
      const s = split('status', rest, { '--json': 'json', '-j': 'json' });
      arity('status', s.positional, 0, 1, 'tunnel name');
      const name = s.positional[0];
      return name === undefined ? { cmd: 'status', json: s.flags.has('json') } : { cmd: 'status', json: s.flags.has('json'), name: checkName('status', name) };
    }
    case 'demo': {
      const s = split('demo', rest, { '--keep': 'keep', '-v': 'verbose', '--verbose': 'verbose' });
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
