// The CLI's side of the control socket against a fake daemon on a temp directory: what
// `tsvpn status` and `tsvpn down` print and return for running, absent and stale tunnels.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fetchStatus, listTunnels, NotRunningError, request, requestDown } from '../../src/cli/control-client.js';
import { main, type Io } from '../../src/cli/main.js';
import { fakeDaemon as startFake } from './fake-daemon.js';
import { troubledStatus, upStatus } from './fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/tsvpn.js', import.meta.url));

let dir: string;
const servers: Server[] = [];

/** A fake daemon in the test's directory, closed after each test. */
async function fakeDaemon(name: string, status: object, onLine?: (line: string) => string | undefined): Promise<string[]> {
  const d = await startFake(dir, name, status, onLine);
  servers.push(d.server);
  return d.seen;
}

function collect(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    env: { TSVPN_CONTROL_DIR: '' } as NodeJS.ProcessEnv,
  };
  io.env.TSVPN_CONTROL_DIR = dir;
  return io;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-cli-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('control socket client', () => {
  it('sends one JSON line per request and returns the status', async () => {
    const seen = await fakeDaemon('left', upStatus());
    expect(await fetchStatus(dir, 'left')).toEqual(upStatus());
    expect(seen).toEqual(['{"cmd":"status"}']);
  });

  it('names the missing socket, and tells a stale socket from a missing one', async () => {
    await expect(fetchStatus(dir, 'left')).rejects.toThrow(`tunnel left is not running (no ${dir}/left.sock)`);
    // a socket file nobody listens on: its daemon was killed with SIGKILL
    const path = join(dir, 'gone.sock');
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
    await new Promise((r) => p.stdout.once('data', r));
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const err = await fetchStatus(dir, 'gone').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotRunningError);
    expect((err as Error).message).toBe(`tunnel gone is not running (stale socket ${path}, nobody listens on it)`);
  });

  it('reports a daemon error, a non-JSON reply and silence as errors, not crashes', async () => {
    await fakeDaemon('bad', {}, (l) => (l.includes('status') ? '{"ok":false,"error":"busy"}\n' : undefined));
    await expect(fetchStatus(dir, 'bad')).rejects.toThrow('tunnel bad: busy');
    await fakeDaemon('junk', {}, () => 'hello\n');
    await expect(request(dir, 'junk', { cmd: 'status' })).rejects.toThrow(/not JSON: hello/);
    await fakeDaemon('mute', {}, () => '');
    await expect(request(dir, 'mute', { cmd: 'status' })).rejects.toThrow(/closed .* without a reply/);
  });

  it('down waits until the daemon has removed its socket', async () => {
    const seen = await fakeDaemon('left', upStatus());
    await requestDown(dir, 'left');
    expect(seen).toEqual(['{"cmd":"down"}']);
    expect(listTunnels(dir)).toEqual([]);
  });

  it('lists only socket files', async () => {
    await fakeDaemon('b', upStatus());
    await fakeDaemon('a', upStatus());
    writeFileSync(join(dir, 'c.sock'), 'not a socket');
    expect(listTunnels(dir)).toEqual(['a', 'b']);
    expect(listTunnels(join(dir, 'missing'))).toEqual([]);
    unlinkSync(join(dir, 'c.sock'));
  });
});

describe('tsvpn status and down', () => {
  it('status <name> prints the text block; --json the TunnelStatus', async () => {
    await fakeDaemon('left', upStatus());
    const io = collect();
    expect(await main(['status', 'left'], io)).toBe(0);
    expect(io.stdout).toContain('left: #1, ESTABLISHED, IKEv2');
    const j = collect();
    expect(await main(['status', '--json', 'left'], j)).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(upStatus());
  });

  it('status without a name shows every tunnel in the directory', async () => {
    await fakeDaemon('left', upStatus());
    await fakeDaemon('right', troubledStatus());
    const io = collect();
    expect(await main(['status'], io)).toBe(0);
    expect(io.stdout).toMatch(/^tunnel left .*\n[\s\S]*\n\ntunnel right [\s\S]*last failure: F2/);
    const j = collect();
    expect(await main(['status', '--json'], j)).toBe(0);
    expect((JSON.parse(j.stdout) as { name: string }[]).map((s) => s.name)).toEqual(['left', 'right']);
  });

  it('no tunnels: says so and succeeds', async () => {
    const io = collect();
    expect(await main(['status'], io)).toBe(0);
    expect(io.stdout).toBe(`no tunnels running (no sockets in ${dir})\n`);
  });

  it('a tunnel that is not running: one line on stderr, exit 1', async () => {
    for (const argv of [['status', 'left'], ['down', 'left']]) {
      const io = collect();
      expect(await main(argv, io)).toBe(1);
      expect(io.stderr).toBe(`tsvpn: tunnel left is not running (no ${dir}/left.sock); no tunnel is running\n`);
      expect(io.stdout).toBe('');
    }
  });

  it('down <name> returns once the tunnel is gone', async () => {
    await fakeDaemon('left', upStatus());
    const io = collect();
    expect(await main(['down', 'left'], io)).toBe(0);
    expect(io.stdout).toBe('tunnel left is down\n');
  });
});

describe('bin/tsvpn.js', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [BIN, ...args], { cwd: '/', encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });

  it('runs from any directory: help, version, usage errors with exit 2', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/usage: tsvpn <command>/);
    const v = run(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^tsvpn \d+\.\d+\.\d+\n$/);
    const bad = run(['frobnicate']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^tsvpn: unknown command "frobnicate"\n\nusage:/);
  });

  it('status talks to the socket in TSVPN_CONTROL_DIR', async () => {
    await fakeDaemon('left', upStatus());
    // spawnSync would block the fake daemon's event loop: run the CLI asynchronously
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [BIN, 'status', 'left'], { env: { ...process.env, TSVPN_CONTROL_DIR: dir } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const code = await new Promise((r) => p.on('exit', r));
    expect(code).toBe(0);
    expect(out).toContain("remote 'right.example' @ 198.51.100.2[4500]");
    const gone = run(['status', 'nope'], { TSVPN_CONTROL_DIR: dir });
    expect(gone.status).toBe(1);
    expect(gone.stderr).toBe(`tsvpn: tunnel nope is not running (no ${dir}/nope.sock); running: left\n`);
  });

  it('status --json of any size reaches a slow reader whole (issue 13 hole 5: it was cut at 64 KiB)', async () => {
    const big = upStatus();
    big.ikeSas = Array.from({ length: 600 }, () => structuredClone(upStatus().ikeSas[0]!));
    await fakeDaemon('left', big);
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [BIN, 'status', '--json', 'left'], { env: { ...process.env, TSVPN_CONTROL_DIR: dir } });
    const closed = new Promise((r) => p.on('close', r));
    const chunks: Buffer[] = [];
    p.stdout.pause(); // a reader that is not there yet: the pipe fills up
    await new Promise((r) => setTimeout(r, 1500));
    p.stdout.on('data', (d: Buffer) => chunks.push(d));
    p.stdout.resume();
    const code = await closed;
    const text = Buffer.concat(chunks).toString();
    expect(code).toBe(0);
    expect(text.length).toBeGreaterThan(128 * 1024);
    expect((JSON.parse(text) as { ikeSas: unknown[] }).ikeSas).toHaveLength(600);
  });
});
