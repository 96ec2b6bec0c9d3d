// `tsvpn events` and `tsvpn metrics` over a real control socket in a temporary directory, with
// a fake daemon (an emitter and a status): lines as events happen, several clients, a client
// that goes away is unsubscribed, the daemon going down ends the stream.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fetchMetrics, followEvents } from '../../src/cli/control-client.js';
import { startControl, type ControlServer } from '../../src/daemon/control.js';
import type { EventLine } from '../../src/daemon/event-lines.js';
import { MAX_EVENT_CLIENTS, observeCommand, type DaemonEvents } from '../../src/daemon/observe.js';
import { upStatus } from '../cli/fixtures.js';

let dir: string;
let server: ControlServer;
let events: EventEmitter<DaemonEvents>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-obs-'));
  events = new EventEmitter<DaemonEvents>();
  const d = { events, status: upStatus };
  server = await startControl(dir, 'left', (req) => observeCommand(req.cmd, 'left', d, () => Date.parse('2026-12-07T06:00:00Z')) ?? { ok: false, error: 'unknown' });
});
afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const until = async (f: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(f()).toBe(true);
};

const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.name));

describe('events and metrics on the control socket', () => {
  it('streams each event to every client as it happens, and ends when the daemon goes down', async () => {
    const a: EventLine[] = [];
    const b: EventLine[] = [];
    const doneA = followEvents(dir, 'left', (l) => a.push(l));
    const doneB = followEvents(dir, 'left', (l) => b.push(l));
    await until(() => events.listenerCount('ike') === 2);
    events.emit('ike', { type: 'child-installed', name: 'left', spiIn: 'c1', spiOut: 'c2', proposal: 'aes256gcm16', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], narrowed: false }, 'left');
    events.emit('failure', { row: 'F1', message: 'no answer', evidence: { retransmits: 3 }, fixArea: 'outer firewall, routing, peer address', at: '2026-12-07T06:00:01.000Z' }, undefined);
    events.emit('reload', { ok: true, summary: 'unchanged 1' });
    await until(() => a.length === 3 && b.length === 3);
    expect(a).toEqual(b);
    expect(a.map((l) => [l.connection, l.event])).toEqual([
      ['left', 'child-installed'],
      ['left', 'failure'],
      ['', 'reload'],
    ]);
    expect(a[0]).toMatchObject({ time: '2026-12-07T06:00:00.000Z', spiIn: 'c1' });
    await server.close();
    await expect(doneA).resolves.toBeUndefined();
    await expect(doneB).resolves.toBeUndefined();
    await until(() => events.listenerCount('ike') === 0);
  });

  it('forgets a client that goes away', async () => {
    const c = createConnection(join(dir, 'left.sock'));
    c.on('connect', () => c.write('{"cmd":"events"}\n'));
    await until(() => events.listenerCount('ike') === 1);
    c.destroy();
    await until(() => events.listenerCount('ike') === 0 && events.listenerCount('failure') === 0 && events.listenerCount('reload') === 0);
  });

  it(`refuses more than ${MAX_EVENT_CLIENTS} clients at once, with a reason`, async () => {
    const socks = Array.from({ length: MAX_EVENT_CLIENTS }, () => {
      const c = createConnection(join(dir, 'left.sock'));
      c.on('connect', () => c.write('{"cmd":"events"}\n'));
      return c;
    });
    await until(() => events.listenerCount('ike') === MAX_EVENT_CLIENTS);
    await expect(followEvents(dir, 'left', () => {})).rejects.toThrow(`${MAX_EVENT_CLIENTS} events clients already connected`);
    expect(warnings).toEqual([]); // no MaxListenersExceededWarning for the clients allowed
    for (const s of socks) s.destroy();
  });

  it('`tsvpn events | head -n 1` ends once head has its line: the reader going away stops the stream', async () => {
    const bin = new URL('../../bin/tsvpn.js', import.meta.url).pathname;
    const p = spawn('sh', ['-c', `node ${bin} events left | head -n 1`], { env: { ...process.env, TSVPN_CONTROL_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    await until(() => events.listenerCount('ike') === 1);
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    // head exits after the first line; the second write meets the closed pipe (EPIPE)
    for (let i = 0; i < 200 && exitCode === undefined; i++) {
      events.emit('reload', { ok: true, summary: `unchanged ${i}` });
      await new Promise((r) => setTimeout(r, 25));
    }
    if (exitCode === undefined) p.kill(); // still following: the failure below, without a stray process
    expect(exitCode).toBe(0);
    expect(out).toMatch(/^.*reload.*unchanged 0.*\n$/);
    expect(err).not.toContain('went down');
    await until(() => events.listenerCount('ike') === 0);
  });

  it('answers the metrics of the status', async () => {
    const text = await fetchMetrics(dir, 'left');
    expect(text).toContain('tsvpn_esp_in_bytes_total{tunnel="left",connection="left"} 1234');
  });
});
