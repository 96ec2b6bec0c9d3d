// The one source of truth for what `tsvpn` accepts: each command with its arguments,
// options and an example. args.ts parses from it, `--help` prints it, and
// src/cli/write-docs.ts renders the man page and the bash/zsh completions from it
// (test/cli/generated-docs.test.ts fails when those files are out of date).

import { LOG_FORMATS, LOG_LEVELS } from '../daemon/log.js';

export interface OptionSpec {
  /** Spellings, the long one last: ['-v', '--verbose']. */
  flags: string[];
  /** Key in the parsed command's flags. */
  key: string;
  help: string;
  /**
   * An option that takes a value ('--log-level warn' or '--log-level=warn'): one of `choices`,
   * or any text, which a shell completes as a file or a directory when `complete` says so.
   */
  value?: { name: string; choices?: readonly string[]; complete?: 'file' | 'directory' };
}

export interface CommandSpec {
  name: string;
  /** Positional arguments as shown in the synopsis: '<peer.json>'. */
  args: string;
  /** What a shell should complete for the positional argument. */
  complete: 'file' | 'tunnel' | 'none';
  summary: string;
  /** Paragraphs shown by `tsvpn <cmd> --help` and in the man page. */
  description: string[];
  options: OptionSpec[];
  /** One example command line and what it does. */
  example: { cmd: string; does: string };
}

const VERBOSE: OptionSpec = { flags: ['-v', '--verbose'], key: 'verbose', help: 'debug logging (every IKE message and SA change)' };
const HELP: OptionSpec = { flags: ['-h', '--help'], key: 'help', help: 'this text' };
const LOG_LEVEL: OptionSpec = {
  flags: ['--log-level'],
  key: 'logLevel',
  help: 'log messages at this level and above (default info; -v is debug)',
  value: { name: 'level', choices: LOG_LEVELS },
};
const LOG_FORMAT: OptionSpec = {
  flags: ['--log-format'],
  key: 'logFormat',
  help: 'text lines (default), or json: one object per line with time, level, area, msg',
  value: { name: 'format', choices: LOG_FORMATS },
};

const SAVE_KEYS: OptionSpec = {
  flags: ['--save-keys'],
  key: 'saveKeys',
  help: 'write the IKE and ESP keys into Wireshark\'s decryption tables in this directory (it must exist and not be world-writable)',
  value: { name: 'dir', complete: 'directory' },
};

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'up',
    args: '<peer.json|gateway.json>',
    complete: 'file',
    summary: 'start the tunnel of a peer.json, or every connection of a gateway file, in the foreground',
    description: [
      'Checks the file (every problem at once, exit 2), opens the TUN device and the UDP sockets, and initiates or waits as each connection\'s "start" says. A gateway file (docs/gateway.md) serves all its connections from this one process.',
      'Prints one line on stdout each time a peer comes up or goes down; logs go to stderr. Ctrl-C or SIGTERM sends Delete, removes the routes and the TUN, and exits 0. SIGHUP reads the file again (see reload).',
      'With --save-keys, the IKE and ESP keys of every SA are appended, as it is established or rekeyed, to the files ikev2_decryption_table and esp_sa in that directory (mode 0600), which Wireshark and tshark read to decrypt a capture of the outer path (docs/wireshark.md). Anyone who can read them can decrypt that traffic.',
      'Under systemd (Type=notify, contrib/tsvpn@.service) it sends READY=1 to $NOTIFY_SOCKET once its sockets, TUN and control socket are open, and STOPPING=1 when it goes down (docs/service.md).',
    ],
    options: [
      VERBOSE,
      LOG_LEVEL,
      LOG_FORMAT,
      SAVE_KEYS,
      { flags: ['--metrics-file'], key: 'metricsFile', help: 'rewrite this Prometheus textfile-collector file every 15 s (written whole, then renamed; mode 0644; docs/metrics.md)', value: { name: 'path', complete: 'file' } },
      { flags: ['--metrics-listen'], key: 'metricsListen', help: 'serve the same at http://<address>/metrics; a loopback address and port only, e.g. 127.0.0.1:9474', value: { name: 'address' } },
      HELP,
    ],
    example: { cmd: 'sudo tsvpn up examples/left.json', does: 'bring up the left end of the example tunnel' },
  },
  {
    name: 'down',
    args: '<name|peer.json>',
    complete: 'tunnel',
    summary: 'take a running tunnel down (Delete sent, routes and TUN removed)',
    description: ['Takes the tunnel name, or the peer file it was started from (its "name" is used). Returns once the tunnel is gone.'],
    options: [HELP],
    example: { cmd: 'sudo tsvpn down left', does: 'take the tunnel named left down' },
  },
  {
    name: 'reload',
    args: '[name|file]',
    complete: 'tunnel',
    summary: 'read a running daemon\'s file again and apply what changed',
    description: [
      'Added connections start, removed ones are deleted (Delete sent, routes removed), changed ones are replaced (make-before-break where the peer\'s address is known), unchanged ones keep their SAs, SPIs and counters. A file that fails validation changes nothing: the problems are printed and the exit code is 1. SIGHUP to the daemon does the same.',
      'Without a name, reloads the only daemon running.',
    ],
    options: [HELP],
    example: { cmd: 'sudo tsvpn reload hub', does: 're-read the file the daemon named hub was started from' },
  },
  {
    name: 'status',
    args: '[name|peer.json]',
    complete: 'tunnel',
    summary: 'show one tunnel, or every tunnel in the control directory',
    description: ['IKE and Child SAs, SPIs, selectors, counters, drops by reason, and the last failure with its failure-map row and evidence.'],
    options: [{ flags: ['-j', '--json'], key: 'json', help: 'the status as JSON (an array without a name)' }, HELP],
    example: { cmd: 'sudo tsvpn status left', does: 'show the tunnel named left' },
  },
  {
    name: 'events',
    args: '[name|peer.json]',
    complete: 'tunnel',
    summary: 'print state changes and failures of a running tunnel as they happen, until Ctrl-C',
    description: [
      'One line per event the daemon applies: IKE SA established, rekeyed or deleted, Child SA installed, rekeyed or deleted, failures with their failure-map row and evidence, the peer moving behind a NAT, retransmits, reload results. Each line starts with the time and the connection. No key material is ever sent.',
      'A client that reads too slowly misses lines rather than slowing the daemon: a "dropped" line says how many. Without a name, watches the only daemon running. Ends when the daemon goes down.',
    ],
    options: [{ flags: ['-j', '--json'], key: 'json', help: 'one JSON object per line (time, connection, event, then the event\'s fields)' }, HELP],
    example: { cmd: 'sudo tsvpn events left', does: 'watch the tunnel named left' },
  },
  {
    name: 'metrics',
    args: '[name|peer.json]',
    complete: 'tunnel',
    summary: 'print a running tunnel\'s Prometheus metrics once',
    description: [
      'SAs by state, bytes and packets each way per connection, drops by direction and reason, rekeys, reauthentications, failures by failure-map row, IKE counters, in the Prometheus text format (docs/metrics.md). `tsvpn up --metrics-file` writes the same for node_exporter\'s textfile collector. Without a name, the only daemon running.',
    ],
    options: [HELP],
    example: { cmd: 'sudo tsvpn metrics left', does: 'print the metrics of the tunnel named left' },
  },
  {
    name: 'diagnose',
    args: '[name|peer.json]',
    complete: 'tunnel',
    summary: 'walk the seven troubleshooting steps live and say which fails first, with the evidence and the fix',
    description: [
      'Checks, in the order an operator would (docs/diagnose.md): 1 the outer path (route and neighbour towards the peer, IKE, ESP counters, NAT), 2 identity and authentication, 3 proposals and lifetimes, 4 selectors against routes (`ip route get` from a local selector address into the TUN), 5 traffic through the tunnel (the daemon sends its own ICMP echo through the Child SA and waits for the reply), 6 the inner firewall (nftables rules that drop the tunnel\'s traffic) and the return route, 7 the MTU (echo requests with DF of growing size, against the TUN MTU).',
      'Prints one line per step (pass, fail or unknown), then the first failing step\'s evidence and fix. Exit code 0 when no step fails, 1 when one does. Read-only: it changes no configuration, routes or rules; it only sends probes. Works when the tunnel is down (the daemon not running fails step 1). Without a name, the only daemon running.',
    ],
    options: [{ flags: ['-j', '--json'], key: 'json', help: 'the steps as JSON (tunnel, ok, firstFailing, steps with step, name, result, summary, evidence, fix)' }, HELP],
    example: { cmd: 'sudo tsvpn diagnose left', does: 'find why the tunnel named left carries no traffic' },
  },
  {
    name: 'demo',
    args: '',
    complete: 'none',
    summary: 'a tunnel between two network namespaces, traffic through it, then clean up',
    description: ['Needs root, iproute2 and /dev/net/tun. Shows both ends\' status before it takes everything down again.'],
    options: [{ flags: ['--keep'], key: 'keep', help: 'leave the tunnel running until Ctrl-C, to look around' }, VERBOSE, HELP],
    example: { cmd: 'sudo tsvpn demo', does: 'run the demo and remove everything it made' },
  },
  {
    name: 'help',
    args: '[command]',
    complete: 'none',
    summary: 'the list of commands, or one command\'s usage',
    description: [],
    options: [],
    example: { cmd: 'tsvpn help up', does: 'the usage of tsvpn up' },
  },
];

export const ENVIRONMENT = [
  { name: 'TSVPN_CONTROL_DIR', help: 'directory of the control sockets (default /run/tsvpn)' },
  { name: 'NOTIFY_SOCKET', help: 'set by systemd for Type=notify: tsvpn up reports READY=1, STATUS= and STOPPING=1 there' },
];
export const EXIT_CODES = '0 success, 1 failure (tunnel not running, no permission, timeout, error), 2 usage or config error';

export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** '--log-level debug|info|warn|error', '--save-keys <dir>', or the flags alone when the option takes no value. */
export function optionText(o: OptionSpec, sep = ', '): string {
  return o.flags.join(sep) + (o.value ? ` ${o.value.choices ? o.value.choices.join('|') : `<${o.value.name}>`}` : '');
}

export function synopsis(c: CommandSpec): string {
  const opts = c.options.filter((o) => o !== HELP).map((o) => `[${optionText(o, '|')}]`);
  return ['tsvpn', c.name, c.args, ...opts].filter((s) => s !== '').join(' ');
}

/** `tsvpn` alone, `tsvpn --help`: every command in one line or two. */
export function overview(): string {
  const rows = COMMANDS.map((c) => [synopsis(c).slice('tsvpn '.length), c.summary] as const);
  const w = Math.max(...rows.map(([s]) => s.length)) + 2;
  return [
    'usage: tsvpn <command> [options]',
    '',
    'commands:',
    ...rows.map(([s, d]) => `  ${s.padEnd(w)}${d}`),
    `  ${'--version'.padEnd(w)}print the version`,
    '',
    `tsvpn <command> --help shows a command's options and an example.`,
    '',
    'environment:',
    ...ENVIRONMENT.map((e) => `  ${e.name}   ${e.help}`),
    '',
    `exit codes: ${EXIT_CODES}`,
  ].join('\n');
}

/** `tsvpn <cmd> --help`: synopsis, what it does, options, one example. */
export function commandUsage(c: CommandSpec): string {
  const w = Math.max(0, ...c.options.map((o) => optionText(o).length)) + 2;
  return [
    `usage: ${synopsis(c)}`,
    '',
    `${c.summary}.`,
    ...c.description.map((p) => `\n${p}`),
    ...(c.options.length ? ['', 'options:', ...c.options.map((o) => `  ${optionText(o).padEnd(w)}${o.help}`)] : []),
    '',
    'example:',
    `  ${c.example.cmd}    # ${c.example.does}`,
  ].join('\n');
}
