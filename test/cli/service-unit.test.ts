// contrib/tsvpn@.service against the code it starts: ExecStart's arguments parse as
// `tsvpn up` with the instance's file, the runtime directory is tsvpn's default control
// directory, the stop timeout covers the daemon's wait for Delete answers, the capabilities
// and sandbox leave what tsvpn touches reachable, and systemd itself (systemd-analyze
// verify, when installed) finds nothing wrong in it. Nothing is installed or started.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { parseArgs } from '../../src/cli/args.js';
import { DEFAULT_CONTROL_DIR } from '../../src/cli/control-client.js';
import { EXIT_CODES } from '../../src/cli/usage.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = join(ROOT, 'contrib/tsvpn@.service');
const text = readFileSync(UNIT, 'utf8');

/** section -> key -> every value given (systemd lets most keys repeat). */
function parseUnit(t: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | undefined;
  for (const raw of t.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      cur = new Map();
      sections.set(s[1]!, cur);
      continue;
    }
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (!kv || !cur) throw new Error(`not a unit file line: ${raw}`);
    cur.set(kv[1]!, [...(cur.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

const unit = parseUnit(text);
const service = unit.get('Service')!;
const one = (key: string): string | undefined => {
  const v = service.get(key);
  expect(v?.length ?? 1, `${key}= given more than once`).toBe(1);
  return v?.[0];
};

/** systemd's seconds: "15s", "15", "1min 30s". */
const seconds = (v: string): number => v.split(/\s+/).reduce((n, p) => n + Number(/^(\d+)(s|min)?$/.exec(p)![1]) * (p.endsWith('min') ? 60 : 1), 0);

describe('contrib/tsvpn@.service', () => {
  it('runs `tsvpn up /etc/tsvpn/<instance>.json` with the log options from Environment=, as args.ts parses it', () => {
    const env = Object.fromEntries(one('Environment')!.split(/\s+/).map((a) => a.split('=') as [string, string]));
    const words = one('ExecStart')!
      .replace(/%i/g, 'hub')
      .replace(/\$\{(\w+)\}/g, (_, v: string) => env[v] ?? `(unset ${v})`)
      .split(/\s+/);
    expect(words[0]).toMatch(/^\/.*\/tsvpn$/);
    expect(parseArgs(words.slice(1))).toEqual({ cmd: 'up', file: '/etc/tsvpn/hub.json', log: { level: 'info', format: 'text' } });
    expect(parseArgs(words.slice(1).map((w) => (w === 'text' ? 'json' : w)))).toMatchObject({ log: { format: 'json' } });
  });

  it('is Type=notify, stops with SIGTERM in time for the Delete wait, reloads with SIGHUP, restarts on failure but not on a config error', () => {
    expect(one('Type')).toBe('notify');
    expect(service.has('NotifyAccess')).toBe(false); // the main process (node running tsvpn up) sends READY=1
    expect(one('KillSignal')).toBe('SIGTERM');
    // the daemon waits DELETE_WAIT_MS for the peers' answers to Delete, then removes routes and the TUN
    const wait = /const DELETE_WAIT_MS = ([\d_]+);/.exec(readFileSync(join(ROOT, 'src/daemon/daemon.ts'), 'utf8'));
    expect(wait, 'DELETE_WAIT_MS in src/daemon/daemon.ts').not.toBeNull();
    expect(seconds(one('TimeoutStopSec')!)).toBeGreaterThanOrEqual((2 * Number(wait![1]!.replace(/_/g, ''))) / 1000 + 5);
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).toBe('on-failure');
    expect(EXIT_CODES).toMatch(/\b2 usage or config error/);
    expect(one('RestartPreventExitStatus')).toBe('2');
  });

  it('makes /run/tsvpn, tsvpn\'s control directory, root-only, and keeps it while other instances run', () => {
    expect(`/run/${one('RuntimeDirectory')}`).toBe(DEFAULT_CONTROL_DIR);
    expect(one('RuntimeDirectoryMode')).toBe('0700');
    expect(one('RuntimeDirectoryPreserve')).toBe('yes');
  });

  it('keeps the capabilities, device and socket families tsvpn uses, and no sandbox option that breaks it', () => {
    expect(one('CapabilityBoundingSet')!.split(/\s+/).sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    expect(one('DevicePolicy')).toBe('closed');
    expect(service.get('DeviceAllow')).toEqual(['/dev/net/tun rw']);
    expect(one('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    expect(one('ProtectSystem')).toBe('strict'); // /run/tsvpn (RuntimeDirectory), /proc and /dev stay writable
    // the daemon writes /proc/sys (disable_ipv6 on its TUN): ProtectKernelTunables would make that fail
    expect(readFileSync(join(ROOT, 'src/daemon/host.ts'), 'utf8')).toContain('/proc/sys/net/ipv6/conf/');
    for (const off of ['ProtectKernelTunables', 'PrivateDevices', 'MemoryDenyWriteExecute', 'PrivateNetwork', 'User', 'DynamicUser']) expect(service.has(off), off).toBe(false);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it.skipIf(spawnSync('systemd-analyze', ['--version']).error !== undefined)('systemd-analyze verify (when installed) reports nothing, with ExecStart pointed at this checkout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-unit-'));
    try {
      // verify checks that the command exists: the installed path is not there in a checkout
      const tmpl = join(dir, 'tsvpn@.service');
      copyFileSync(UNIT, tmpl);
      writeFileSync(tmpl, readFileSync(tmpl, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${join(ROOT, 'bin/tsvpn.js')}`));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'tsvpn@hub.service')], { encoding: 'utf8' });
      expect(r.stderr + r.stdout).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
