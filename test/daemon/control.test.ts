// The control socket protocol (src/daemon/control.ts) on a temporary directory: one JSON line in, one
// out; errors as {"ok":false}; mode 0600; a live socket refuses a second daemon of the same
// name, a stale file is replaced, and close() removes the file.
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlRequest, DaemonError, startControl, type ControlServer } from '../../src/daemon/control.js';

let dir: string;
const servers: ControlServer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-ctl-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(handler = (req: { cmd: string }) => (req.cmd === 'status' ? { ok: true as const, status: { name: 't1' } } : { ok: false as const, error: 'unknown command' })) {
  const s = await startControl(dir, 't1', handler);
  servers.push(s);
  return s;
}

/** Raw exchange: write exactly `text`, read everything back. */
function raw(path: string, text: string, endAfter = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('error', reject);
    c.on('close', () => resolve(got));
    c.on('connect', () => (endAfter ? c.end(text) : c.write(text)));
  });
}

describe('control socket', () => {
  it('answers status with one JSON line and is private to root (0600)', async () => {
    const s = await serve();
    expect(s.path).toBe(join(dir, 't1.sock'));
    expect(statSync(s.path).mode & 0o777).toBe(0o600);
    expect(await controlRequest(s.path, { cmd: 'status' })).toEqual({ ok: true, status: { name: 't1' } });
    expect(await raw(s.path, '{"cmd":"status"}\n')).toBe('{"ok":true,"status":{"name":"t1"}}\n');
  });

  it('reports bad requests as {"ok":false,"error":...}', async () => {
    const s = await serve();
    const bad = async (text: string) => JSON.parse(await raw(s.path, text)) as { ok: boolean; error: string };
    expect(await bad('not json\n')).toEqual({ ok: false, error: 'request is not JSON' });
    expect((await bad('[1,2]\n')).error).toMatch(/"cmd"/);
    expect((await bad('{"cmd":"status"}')).error).toMatch(/newline/);
    expect((await bad('{"cmd":"reboot"}\n')).ok).toBe(false);
    expect((await bad(`${'x'.repeat(70_000)}`)).error).toMatch(/longer than/);
  });

  it('a handler that throws becomes an error reply, and the server keeps serving', async () => {
    const s = await serve(() => {
      throw new Error('boom');
    });
    expect(await controlRequest(s.path, { cmd: 'status' })).toEqual({ ok: false, error: 'boom' });
    expect(await controlRequest(s.path, { cmd: 'status' })).toEqual({ ok: false, error: 'boom' });
  });

  it('refuses a second daemon of the same name while the first answers', async () => {
    await serve();
    await expect(startControl(dir, 't1', () => ({ ok: true }))).rejects.toThrow(DaemonError);
    await expect(startControl(dir, 't1', () => ({ ok: true }))).rejects.toThrow(/already up/);
  });

  it('replaces a stale socket file and removes its own on close', async () => {
    writeFileSync(join(dir, 't1.sock'), '');
    const s = await startControl(dir, 't1', () => ({ ok: true }));
    expect(await controlRequest(s.path, { cmd: 'down' })).toEqual({ ok: true });
    await s.close();
    expect(existsSync(s.path)).toBe(false);
  });
});
