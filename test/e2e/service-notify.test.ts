// `tsvpn up` as systemd runs it with Type=notify (contrib/tsvpn@.service): READY=1 reaches
// $NOTIFY_SOCKET once the daemon serves (control socket answering, TUN up), before any peer
// has come, since a gateway may wait for its peers; STOPPING=1 follows when it goes down,
// by SIGTERM (systemctl stop) or by `tsvpn down`; --log-format json puts one JSON object per
// line on stderr (journald's input). A python3 socket stands in for systemd.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { fetchStatus, requestDown } from '../../src/cli/control-client.js';
import { labPeer } from '../../src/cli/lab-tunnel.js';
import { createTwoHosts } from '../../src/io/netns.js';
import { listenNotify, type NotifyListener } from '../io/helpers/notify-listener.js';
import { labOk, netState, TSVPN_BIN } from './helpers/lab.js';

const READY = 'READY=1\nSTATUS=tunnel sd-gw started';
const STOPPING = 'STOPPING=1\nSTATUS=going down';

describe.skipIf(!labOk)('tsvpn up under systemd Type=notify (needs root, namespaces, /dev/net/tun, python3)', () => {
  // two runs: SIGTERM with --log-level debug --log-format json, `tsvpn down` with --log-level warn (nothing to say)
  it.each([
    ['SIGTERM', ['--log-level', 'debug', '--log-format', 'json']],
    ['tsvpn down', ['--log-level=warn']],
  ] as const)('READY=1 once serving with no peer yet, STOPPING=1 after %s; logs as %j say', { timeout: 60_000 }, async (how, logArgs) => {
    const hosts = createTwoHosts({ prefix: 'tsvpn-sd' });
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-sd-'));
    const ctl = join(dir, 'ctl');
    let listener: NotifyListener | undefined;
    let up: ReturnType<typeof spawn> | undefined;
    try {
      mkdirSync(ctl, { mode: 0o700 });
      listener = await listenNotify(join(dir, 'notify.sock'));
      const psk = randomBytes(24).toString('base64url');
      const file = join(dir, 'sd-gw.json');
      writeFileSync(file, JSON.stringify(labPeer('right', hosts, 'sd-gw', psk)), { mode: 0o600 });
      const env = { ...process.env, NOTIFY_SOCKET: join(dir, 'notify.sock'), TSVPN_CONTROL_DIR: ctl };
      const args = ['netns', 'exec', hosts.right.ns, process.execPath, TSVPN_BIN, 'up', file, ...logArgs];
      const proc = spawn('ip', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      up = proc;
      let err = '';
      proc.stderr.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));

      await listener.waitFor('READY=1', (m) => m.startsWith('READY=1'), 20_000);
      // at READY=1 it serves: the control socket answers, the TUN exists, and no peer is there
      const s = await fetchStatus(ctl, 'sd-gw');
      expect(s.ikeSas).toEqual([]);
      expect(netState(hosts.right.ns).links).toContain(s.tun?.name);
      expect(listener.messages).toEqual([READY]);

      if (how === 'SIGTERM') proc.kill('SIGTERM');
      else await requestDown(ctl, 'sd-gw');
      expect(await exited).toBe(0);
      await listener.waitFor('STOPPING=1', (m) => m.startsWith('STOPPING=1'));
      expect(listener.messages).toEqual([READY, STOPPING]);

      if (how === 'tsvpn down') expect(err).toBe(''); // info and debug filtered out, no warning
      const lines = err.split('\n').filter((l) => l !== '');
      const msgs = lines.map((l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        expect(Object.keys(o)).toEqual(['time', 'level', 'area', 'msg']);
        expect(new Date(o.time as string).toISOString()).toBe(o.time);
        expect(['debug', 'info', 'warn', 'error']).toContain(o.level);
        return o.msg;
      });
      if (how === 'SIGTERM') expect(msgs).toEqual(expect.arrayContaining([expect.stringMatching(/waiting for the peer$/), 'going down (signal SIGTERM)', 'tunnel sd-gw down']));
      expect(err).not.toContain(psk);
    } finally {
      if (up && up.exitCode === null && up.signalCode === null) up.kill('SIGKILL');
      listener?.close();
      hosts.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
