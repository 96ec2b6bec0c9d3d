// systemd's notify protocol as `tsvpn up` speaks it (sd_notify(3)): one datagram of
// VAR=value lines to $NOTIFY_SOCKET, a path or an '@' abstract name, received here by a
// python3 socket standing in for systemd. No root: the sockets are in a temp directory and
// in this network namespace's abstract namespace.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IoError } from '../../src/io/native.js';
import { sdNotify, serviceNotifier } from '../../src/io/sd-notify.js';
import { listenNotify, type NotifyListener } from './helpers/notify-listener.js';

describe('sd_notify to $NOTIFY_SOCKET', () => {
  let dir = '';
  let file: NotifyListener;
  let abstract: NotifyListener;
  const abstractName = `@tsvpn-test-${randomBytes(6).toString('hex')}`;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsvpn-notify-'));
    file = await listenNotify(join(dir, 'notify.sock'));
    abstract = await listenNotify(abstractName);
  });
  afterAll(() => {
    file?.close();
    abstract?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('does nothing when NOTIFY_SOCKET is unset or empty (not started by systemd)', () => {
    expect(sdNotify('READY=1', {})).toBe(false);
    expect(sdNotify('READY=1', { NOTIFY_SOCKET: '' })).toBe(false);
  });

  it('sends one datagram to a socket path', async () => {
    expect(sdNotify('READY=1\nSTATUS=tunnel left started', { NOTIFY_SOCKET: join(dir, 'notify.sock') })).toBe(true);
    expect(await file.waitFor('READY=1', (m) => m.startsWith('READY=1'))).toContain('READY=1\nSTATUS=tunnel left started');
  });

  it('sends to an abstract socket when the name starts with @', async () => {
    sdNotify('STATUS=abstract', { NOTIFY_SOCKET: abstractName });
    expect(await abstract.waitFor('STATUS=abstract', (m) => m === 'STATUS=abstract')).toEqual(['STATUS=abstract']);
  });

  it('throws an IoError naming the socket when nobody listens, and refuses a path too long for sun_path', () => {
    const missing = join(dir, 'nobody.sock');
    expect(() => sdNotify('READY=1', { NOTIFY_SOCKET: missing })).toThrow(IoError);
    expect(() => sdNotify('READY=1', { NOTIFY_SOCKET: missing })).toThrow(`cannot send to NOTIFY_SOCKET ${missing} (ENOENT)`);
    expect(() => sdNotify('READY=1', { NOTIFY_SOCKET: `/${'x'.repeat(120)}` })).toThrow(/NOTIFY_SOCKET must be a socket path .* of 2 to 107 bytes/);
  });

  it('tsvpn up\'s notifier: READY=1 with a status, STATUS on one line, STOPPING=1 once', async () => {
    const warnings: string[] = [];
    const n = serviceNotifier({ NOTIFY_SOCKET: join(dir, 'notify.sock') }, (m) => warnings.push(m));
    const before = file.messages.length;
    n.notifyReady('tunnel hub started');
    n.notifyStatus('2 of 3 connections up\nREADY=1');
    n.notifyStopping();
    n.notifyStopping();
    n.notifyStatus('last');
    await file.waitFor('STATUS=last', (m) => m === 'STATUS=last');
    expect(file.messages.slice(before)).toEqual(['READY=1\nSTATUS=tunnel hub started', 'STATUS=2 of 3 connections up READY=1', 'STOPPING=1\nSTATUS=going down', 'STATUS=last']);
    expect(warnings).toEqual([]);
  });

  it('tsvpn up\'s notifier never throws: a failed send is one warning per distinct error, not one per call', () => {
    const warnings: string[] = [];
    const n = serviceNotifier({ NOTIFY_SOCKET: join(dir, 'nobody.sock') }, (m) => warnings.push(m));
    n.notifyStatus('a');
    n.notifyStatus('b');
    n.notifyReady('c');
    expect(warnings).toEqual([`cannot tell systemd STATUS=a: cannot send to NOTIFY_SOCKET ${join(dir, 'nobody.sock')} (ENOENT): No such file or directory`]);
    const other = serviceNotifier({ NOTIFY_SOCKET: `/${'x'.repeat(120)}` }, (m) => warnings.push(m));
    other.notifyReady('d');
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/^cannot tell systemd READY=1: NOTIFY_SOCKET must be/);
  });
});
