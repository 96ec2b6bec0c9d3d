// The man page and the bash and zsh completions, rendered from usage.ts (the same table
// `--help` prints). `npx tsx src/cli/write-docs.ts` writes them into the repository;
// test/cli/generated-docs.test.ts fails when a committed file differs from this output.

import { COMMANDS, ENVIRONMENT, EXIT_CODES, optionText, synopsis, type CommandSpec, type OptionSpec } from './usage.js';

export interface GeneratedFile {
  /** Relative to the repository root. */
  path: string;
  text: string;
}

const HEADER = 'generated from src/cli/usage.ts by src/cli/write-docs.ts: do not edit';
const PUBLIC = COMMANDS.filter((c) => c.name !== 'help');

/** roff text: backslashes and hyphens escaped, a leading dot or quote made harmless. */
function roff(t: string): string {
  return t.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

function manCommand(c: CommandSpec): string[] {
  return [
    '.TP',
    `.B ${roff(synopsis(c).slice('tsvpn '.length))}`,
    `${roff(c.summary)}.`,
    ...c.description.flatMap((p) => ['.IP', roff(p)]),
    ...c.options.flatMap((o) => ['.RS', '.TP', `.B ${roff(optionText(o))}`, roff(o.help), '.RE']),
    '.IP',
    `Example: \\fB${roff(c.example.cmd)}\\fR (${roff(c.example.does)})`,
  ];
}

export function manPage(version: string): string {
  return [
    `.\\" ${HEADER}`,
    `.TH TSVPN 1 "" "tsvpn ${version}" "User Commands"`,
    '.SH NAME',
    'tsvpn \\- userspace IKEv2 and ESP VPN',
    '.SH SYNOPSIS',
    ...COMMANDS.flatMap((c) => ['.B', roff(synopsis(c)), '.br']),
    '.B tsvpn \\-\\-version',
    '.SH DESCRIPTION',
    'Two Linux hosts run \\fBtsvpn up\\fR with a peer.json each and get a routed, encrypted tunnel (IKEv2, RFC 7296; ESP, RFC 4303) that interoperates with strongSwan. The peer.json format is described in docs/peer\\-json.md.',
    `Every command takes \\fB\\-h\\fR or \\fB\\-\\-help\\fR for its own usage.`,
    '.SH COMMANDS',
    ...PUBLIC.flatMap(manCommand),
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap((e) => ['.TP', `.B ${e.name}`, roff(e.help)]),
    '.SH EXIT STATUS',
    roff(EXIT_CODES),
    '.SH FILES',
    '.TP',
    '.I /run/tsvpn/<name>.sock',
    'control socket of each running tunnel (the directory is root\'s, mode 0700)',
    '',
  ].join('\n');
}

const flagsOf = (c: CommandSpec): string => c.options.flatMap((o) => o.flags).join(' ');

/** Running tunnel names, straight from the control directory (no Node start per TAB). */
const NAMES_SH = '"${TSVPN_CONTROL_DIR:-/run/tsvpn}"/*.sock';

/** Every option that takes a value, once per spelling, with what completes after it: its choices, file names, or nothing. */
function valueOptions(): { flag: string; value: NonNullable<OptionSpec['value']> }[] {
  const seen = new Map<string, NonNullable<OptionSpec['value']>>();
  for (const o of PUBLIC.flatMap((c) => c.options)) for (const f of o.flags) if (o.value) seen.set(f, o.value);
  return [...seen].map(([flag, value]) => ({ flag, value }));
}

const bashValue = (v: NonNullable<OptionSpec['value']>): string =>
  v.choices ? `COMPREPLY=($(compgen -W "${v.choices.join(' ')}" -- "$cur"))` : v.complete === 'file' ? `COMPREPLY=($(compgen -f -- "$cur"))` : v.complete === 'directory' ? `COMPREPLY=($(compgen -d -- "$cur"))` : 'COMPREPLY=()';

export function bashCompletion(): string {
  const cases = PUBLIC.map((c) => {
    const arg = c.complete === 'file' ? `COMPREPLY+=($(compgen -f -- "$cur"))` : c.complete === 'tunnel' ? `COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur"))` : ':';
    return `    ${c.name})\n      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "${flagsOf(c)}" -- "$cur")); else ${arg}; fi ;;`;
  });
  return [
    `# bash completion for tsvpn (${HEADER})`,
    '# install: copy to /usr/share/bash-completion/completions/tsvpn, or source it',
    '_tsvpn_names() {',
    '  local f',
    `  for f in ${NAMES_SH}; do [[ -S $f ]] && { f=\${f##*/}; printf '%s\\n' "\${f%.sock}"; }; done 2>/dev/null`,
    '}',
    '_tsvpn() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]}',
    '  COMPREPLY=()',
    '  case ${COMP_WORDS[COMP_CWORD-1]} in',
    ...valueOptions().map((v) => `    ${v.flag}) ${bashValue(v.value)}; return ;;`),
    '  esac',
    '  if [[ $COMP_CWORD -eq 1 ]]; then',
    `    COMPREPLY=($(compgen -W "${COMMANDS.map((c) => c.name).join(' ')} --help --version" -- "$cur"))`,
    '    return',
    '  fi',
    '  case ${COMP_WORDS[1]} in',
    ...cases,
    `    help) COMPREPLY=($(compgen -W "${PUBLIC.map((c) => c.name).join(' ')}" -- "$cur")) ;;`,
    '  esac',
    '}',
    'complete -o filenames -F _tsvpn tsvpn',
    '',
  ].join('\n');
}

/** zsh's _arguments spec for one option: '(-v --verbose)'{-v,--verbose}'[help]', and ':level:(debug info)' after one that takes a value. */
function zshOption(o: OptionSpec): string {
  const help = o.help.replace(/[[\]']/g, '');
  const value = o.value ? `:${o.value.name}:${o.value.choices ? `(${o.value.choices.join(' ')})` : o.value.complete === 'file' ? '_files' : o.value.complete === 'directory' ? '_directories' : ' '}` : '';
  return o.flags.length === 1 ? `'${o.flags[0]}[${help}]${value}'` : `'(${o.flags.join(' ')})'{${o.flags.join(',')}}'[${help}]${value}'`;
}

export function zshCompletion(): string {
  const cmds = COMMANDS.map((c) => `    '${c.name}:${c.summary.replace(/'/g, '')}'`);
  const cases = PUBLIC.map((c) => {
    const arg = c.complete === 'file' ? `'1:peer file:_files -g "*.json"'` : c.complete === 'tunnel' ? `'1:tunnel:_tsvpn_tunnels'` : '';
    return `    ${c.name}) _arguments ${[...c.options.map(zshOption), arg].filter((s) => s !== '').join(' ')} ;;`;
  });
  return [
    '#compdef tsvpn',
    `# zsh completion for tsvpn (${HEADER})`,
    '# install: copy as _tsvpn into a directory on $fpath',
    '_tsvpn_tunnels() {',
    `  local -a names; names=(\${TSVPN_CONTROL_DIR:-/run/tsvpn}/*.sock(N=:t:r))`,
    "  _alternative 'tunnels:running tunnel:compadd -a names' 'files:peer file:_files -g \"*.json\"'",
    '}',
    '_tsvpn() {',
    '  local -a commands; commands=(',
    ...cmds,
    '  )',
    '  if (( CURRENT == 2 )); then',
    "    _describe -t commands 'tsvpn command' commands; _arguments '--version[print the version]' '--help[the list of commands]'",
    '    return',
    '  fi',
    '  shift words; (( CURRENT-- ))',
    '  case $words[1] in',
    ...cases,
    `    help) _values command ${PUBLIC.map((c) => c.name).join(' ')} ;;`,
    '  esac',
    '}',
    '_tsvpn "$@"',
    '',
  ].join('\n');
}

export function generatedFiles(version: string): GeneratedFile[] {
  return [
    { path: 'docs/tsvpn.1', text: manPage(version) },
    { path: 'contrib/completions/tsvpn.bash', text: bashCompletion() },
    { path: 'contrib/completions/_tsvpn', text: zshCompletion() },
  ];
}
