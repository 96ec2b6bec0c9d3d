// The CLI as a new operator meets it, as root and as an unprivileged user (`setpriv` to
// nobody): every command's --help, and each mistake of issue 16 with the exact message and
// exit code. A fake daemon stands in for `tsvpn up` on a control directory that, like
// /run/tsvpn, is root's with mode 0700. Root only to switch users; no namespace is made.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { COMMANDS, commandSpec, commandUsage, overview } from '../../src/cli/usage.js';
import { fakeDaemon } from '../cli/fake-daemon.js';
import { upStatus } from '../cli/fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/tsvpn.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const SETPRIV = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
const canSwitch = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).error === undefined;
const SECRET = 'hunter2-unquoted-secret';

type Who = 'root' | 'nobody';
interface Row {
  who: Who;
  argv: (ctx: Ctx) => string[];
  code: number;
  out: (ctx: Ctx) => string | RegExp;
  err: (ctx: Ctx) => string | RegExp;
}
interface Ctx {
  ctl: string;
  files: string;
}

/** `tsvpn argv` as `who`, asynchronously (the fake daemon answers from this process). */
function tsvpn(who: Who, argv: string[], ctl: string): Promise<{ code: number | null; out: string; err: string }> {
  const cmd = who === 'root' ? [process.execPath, BIN, ...argv] : [...SETPRIV, process.execPath, BIN, ...argv];
  return new Promise((resolve) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { cwd: '/', env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const usageOf = (name: string): string => `${commandUsage(commandSpec(name)!)}\n`;
const needsRoot = (c: Ctx): string => `tsvpn: the control directory ${c.ctl} needs root (permission denied): run this as root, e.g. with sudo\n`;
const none = (): string => '';

const ROWS: [string, Row][] = [
  // 1. every command's --help (and -h, and `help <command>`): its usage, exit 0, for anyone
  ...COMMANDS.filter((c) => c.name !== 'help').flatMap((c) =>
    (['root', 'nobody'] as const).flatMap((who) =>
      [[c.name, '--help'], [c.name, '-h'], ['help', c.name]].map((argv): [string, Row] => [`${who}: tsvpn ${argv.join(' ')}`, { who, argv: () => argv, code: 0, out: () => usageOf(c.name), err: none }]),
    ),
  ),
  ['root: tsvpn --help', { who: 'root', argv: () => ['--help'], code: 0, out: () => `${overview()}\n`, err: none }],
  ['root: tsvpn up --bogus', { who: 'root', argv: () => ['up', '--bogus'], code: 2, out: none, err: () => `tsvpn: up: unknown option --bogus (expected -v, --verbose, --log-level, --log-format, --save-keys, --metrics-file, --metrics-listen, -h, --help)\n\n${usageOf('up')}` }],
  ['root: tsvpn frobnicate', { who: 'root', argv: () => ['frobnicate'], code: 2, out: none, err: () => `tsvpn: unknown command "frobnicate"\n\n${overview()}\n` }],
  // 2. unprivileged: the control directory needs root, exit 1 (not "no tunnels running", not EACCES)
  ['nobody: tsvpn status', { who: 'nobody', argv: () => ['status'], code: 1, out: none, err: needsRoot }],
  ['nobody: tsvpn status left', { who: 'nobody', argv: () => ['status', 'left'], code: 1, out: none, err: needsRoot }],
  ['nobody: tsvpn down left', { who: 'nobody', argv: () => ['down', 'left'], code: 1, out: none, err: needsRoot }],
  ['nobody: tsvpn up examples/left.json', { who: 'nobody', argv: () => ['up', join(EXAMPLES, 'left.json')], code: 1, out: none, err: () => 'tsvpn: tsvpn up needs root (or CAP_NET_ADMIN): it creates a TUN device, binds UDP 500/4500 and adds routes\n' }],
  ['root: tsvpn status', { who: 'root', argv: () => ['status'], code: 0, out: () => /^tunnel left \(pid 4242\)/, err: none }],
  // 3. a tunnel that is not running names the ones that are; a peer file stands for its name
  ['root: tsvpn status nosuch', { who: 'root', argv: () => ['status', 'nosuch'], code: 1, out: none, err: (c) => `tsvpn: tunnel nosuch is not running (no ${c.ctl}/nosuch.sock); running: left\n` }],
  ['root: tsvpn status path/to/left.json', { who: 'root', argv: (c) => ['status', join(c.files, 'left.json')], code: 0, out: () => /^tunnel left \(pid 4242\)/, err: none }],
  ['root: tsvpn down path/to/other.json', { who: 'root', argv: (c) => ['down', join(c.files, 'other.json')], code: 1, out: none, err: (c) => `tsvpn: tunnel other is not running (no ${c.ctl}/other.sock); running: left\n` }],
  ['root: tsvpn down path/to/missing.json', { who: 'root', argv: (c) => ['down', join(c.files, 'missing.json')], code: 2, out: none, err: (c) => `tsvpn: down: cannot read ${c.files}/missing.json: no such file\n` }],
  // 8. a JSON syntax error shows the line, the PSK on it masked, and never quotes the secret
  ['root: tsvpn up broken.json', { who: 'root', argv: (c) => ['up', join(c.files, 'broken.json')], code: 2, out: none, err: (c) => `tsvpn: ${c.files}/broken.json is not valid JSON: line 3 column 10: expected a value (object, array, "string", number, true, false or null)\n  3 |   "psk": ********\n    |          ^\n` }],
  ['root: tsvpn down broken.json', { who: 'root', argv: (c) => ['down', join(c.files, 'broken.json')], code: 2, out: none, err: (c) => `tsvpn: down: ${c.files}/broken.json is not valid JSON: line 3 column 10: expected a value (object, array, "string", number, true, false or null)\n  3 |   "psk": ********\n    |          ^\n` }],
  // last: it takes the fake daemon down
  ['root: tsvpn down path/to/left.json', { who: 'root', argv: (c) => ['down', join(c.files, 'left.json')], code: 0, out: () => 'tunnel left is down\n', err: none }],
];

describe.skipIf(!canSwitch)('the tsvpn command line, as root and as nobody (needs root and setpriv to switch users)', () => {
  const ctx: Ctx = { ctl: '', files: '' };
  let server: Server | undefined;
  beforeAll(async () => {
    ctx.ctl = mkdtempSync(join(tmpdir(), 'tsvpn-ctl-')); // root's, mode 0700, like /run/tsvpn
    ctx.files = mkdtempSync(join(tmpdir(), 'tsvpn-files-'));
    chmodSync(ctx.files, 0o755);
    writeFileSync(join(ctx.files, 'left.json'), JSON.stringify({ name: 'left', psk: 'x' }));
    writeFileSync(join(ctx.files, 'other.json'), JSON.stringify({ name: 'other' }));
    writeFileSync(join(ctx.files, 'broken.json'), `{\n  "name": "left",\n  "psk": ${SECRET},\n  "ike": {}\n}\n`);
    server = (await fakeDaemon(ctx.ctl, 'left', upStatus())).server;
  });
  afterAll(async () => {
    if (server?.listening) await new Promise((r) => server!.close(r));
    rmSync(ctx.ctl, { recursive: true, force: true });
    rmSync(ctx.files, { recursive: true, force: true });
  });

  it.each(ROWS)('%s', { timeout: 20_000 }, async (_name, row) => {
    const r = await tsvpn(row.who, row.argv(ctx), ctx.ctl);
    const check = (got: string, want: string | RegExp): void => (typeof want === 'string' ? expect(got).toBe(want) : expect(got).toMatch(want));
    check(r.err, row.err(ctx));
    check(r.out, row.out(ctx));
    expect(r.code).toBe(row.code);
    expect(r.out + r.err).not.toContain(SECRET);
  });
});
