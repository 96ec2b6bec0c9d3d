// Issue 14 item 5, MOBIKE (RFC 4555) against strongSwan 5.9.8 (`mobike = yes`, swanctl's
// default) in both roles. Two namespaces joined by a veth; the client's inner address sits on
// its lo. Under a 10 ms ping through the tunnel the client's veth is readdressed (the old
// address deleted, a new one of the same subnet added): the IKE SA keeps its SPIs, the
// gateway now has the client at the new address, and the ping is answered again within 2 s.
// 1. tsvpn client, charon gateway: tsvpn notices (ip monitor), rebinds and sends UPDATE_SA_ADDRESSES.
// 2. charon client, tsvpn gateway: charon notices through its kernel-netlink plugin and roams.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { hasInstalled, startStrongswan, strongswanSupport, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { createTwoHosts, netnsSupport, type TwoHosts } from '../../src/io/netns.js';
import { pingAcrossReaddress, TSVPN_BIN } from '../e2e/helpers/lab.js';

const reasons = [netnsSupport(), strongswanSupport()].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

const GW = '198.51.100.2';
const CL = '198.51.100.3';
const CL_NEW = '198.51.100.33';
const GW_INNER = '10.0.0.1';
const CL_INNER = '10.5.0.1';
const PSK = 'mobike-lab-secret-0123456789';
const PROPOSAL = 'aes256gcm16-prfsha256-x25519';
const CHILD = 'net';

const tail = (text: string, n = 40) => text.split('\n').slice(-n).join('\n');

/** The client (left) and the gateway (right), their inner hosts on lo. */
const lab = (): TwoHosts => createTwoHosts({ prefix: 'tsmb', left: { outer: CL, inner: CL_INNER }, right: { outer: GW, inner: GW_INNER } });

function startTsvpn(dir: string, ns: string, name: string, body: Record<string, unknown>): { proc: ChildProcess; ctl: string; log: () => string } {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, ...body }, null, 2), { mode: 0o600 });
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a', 0o600);
  const ctl = join(dir, 'ctl');
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
  closeSync(fd);
  return { proc, ctl, log: () => readFileSync(logFile, 'utf8') };
}

async function stopTsvpn(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  await until(() => p.exitCode !== null || p.signalCode !== null, { timeout: 5000, interval: 100, what: 'tsvpn to exit' }).catch(() => p.kill('SIGKILL'));
}

const charonSide = (o: { client: boolean }) =>
  swanctlConf({
    name: 'mob',
    localAddrs: o.client ? '%any' : GW,
    remoteAddrs: o.client ? GW : '%any',
    proposals: [PROPOSAL],
    mobike: true,
    local: { auth: 'psk', id: o.client ? 'client.example' : 'gw.example' },
    remote: { auth: 'psk', id: o.client ? 'gw.example' : 'client.example' },
    child: { name: CHILD, localTs: [o.client ? `${CL_INNER}/32` : `${GW_INNER}/32`], remoteTs: [o.client ? `${GW_INNER}/32` : `${CL_INNER}/32`], espProposals: ['aes256gcm16'] },
    psk: PSK,
  });

const tsvpnSide = (o: { client: boolean }) => ({
  local: { addr: o.client ? CL : GW, id: o.client ? 'client.example' : 'gw.example', auth: 'psk', ts: [o.client ? `${CL_INNER}/32` : `${GW_INNER}/32`] },
  remote: { addr: o.client ? GW : '%any', id: o.client ? 'gw.example' : 'client.example', auth: 'psk', ts: [o.client ? `${GW_INNER}/32` : `${CL_INNER}/32`] },
  psk: PSK,
  ike: { proposals: [PROPOSAL] },
  child: { proposals: ['aes256gcm16'] },
  start: o.client ? 'initiate' : 'wait',
  tun: { name: o.client ? 'tsmbc' : 'tsmbg' },
});

const up = (s: TunnelStatus | undefined) => s?.ikeSas.find((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));

describe.skipIf(!ok)(`MOBIKE against strongSwan ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  let charon: Strongswan | undefined;
  let tsvpn: ChildProcess | undefined;
  let dir: string | undefined;
  let hosts: TwoHosts | undefined;

  afterEach(async () => {
    await charon?.stop();
    await stopTsvpn(tsvpn);
    hosts?.destroy();
    hosts = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    charon = undefined;
    tsvpn = undefined;
  }, 30_000);

  it('tsvpn client, charon gateway: same IKE SPIs, charon has the client at its new address, ping back within 2 s', async () => {
    hosts = lab();
    dir = mkdtempSync(join(tmpdir(), 'tsvpn-mobike-'));
    charon = await startStrongswan({ ns: hosts.right.ns, name: 'mobgw', conf: charonSide({ client: false }) });
    const t = startTsvpn(dir, hosts.left.ns, 'client', tsvpnSide({ client: true }));
    tsvpn = t.proc;
    const why = () => `--- tsvpn client ---\n${tail(t.log())}\n--- charon gateway ---\n${tail(charon!.log())}`;
    const first = await until(async () => up(await fetchStatus(t.ctl, 'client').catch(() => undefined)), { timeout: 20_000, interval: 200, what: 'the client up' }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    expect(first.mobike, why()).toBe(true);
    const before = charon.listSas().find((s) => s.state === 'ESTABLISHED')!;

    const g = await pingAcrossReaddress(hosts.left, CL_NEW, CL_INNER, GW_INNER);
    const after = await charon.waitFor((sas) => sas.some((s) => s.state === 'ESTABLISHED' && s.remoteHost === CL_NEW), 5000, `charon to have the client at ${CL_NEW}`).catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    expect(g.answeredAfter, `${tail(g.out, 10)}\n${why()}`).toBeGreaterThan(100);
    expect(g.longestGap, `longest gap ${g.longestGap.toFixed(3)} s\n${why()}`).toBeLessThan(2);
    const sa = after.find((s) => s.state === 'ESTABLISHED')!;
    expect([sa.initiatorSpi, sa.responderSpi]).toEqual([before.initiatorSpi, before.responderSpi]);
    const s = up(await fetchStatus(t.ctl, 'client'))!;
    expect([s.localSpi, s.remoteSpi]).toEqual([first.localSpi, first.remoteSpi]);
    expect(s.local.startsWith(`${CL_NEW}:`), why()).toBe(true);
    console.log(`MOBIKE tsvpn -> charon: longest gap between ping answers ${(g.longestGap * 1000).toFixed(0)} ms, ${g.answeredAfter} answered after the move`);
  }, 60_000);

  it('charon client, tsvpn gateway: charon roams (kernel-netlink), tsvpn follows it (logged), same SPIs, ping back within 2 s', async () => {
    hosts = lab();
    dir = mkdtempSync(join(tmpdir(), 'tsvpn-mobike-'));
    const t = startTsvpn(dir, hosts.right.ns, 'gw', tsvpnSide({ client: false }));
    tsvpn = t.proc;
    await until(async () => (await fetchStatus(t.ctl, 'gw').catch(() => undefined)) !== undefined, { timeout: 15_000, interval: 100, what: 'the gateway daemon' });
    charon = await startStrongswan({ ns: hosts.left.ns, name: 'mobcl', conf: charonSide({ client: true }) });
    const why = () => `--- tsvpn gateway ---\n${tail(t.log())}\n--- charon client ---\n${tail(charon!.log())}`;
    const r = await charon.initiate(CHILD);
    if (!r.ok) expect.fail(`swanctl --initiate: ${r.output}\n${why()}`);
    await charon.waitFor((sas) => hasInstalled(sas, CHILD), 10_000, 'INSTALLED');
    const first = up(await fetchStatus(t.ctl, 'gw'))!;
    expect(first.mobike, why()).toBe(true);

    const g = await pingAcrossReaddress(hosts.left, CL_NEW, CL_INNER, GW_INNER);
    const s = await until(async () => up(await fetchStatus(t.ctl, 'gw')), { timeout: 5000, interval: 100, what: `the gateway to have the client at ${CL_NEW}`, done: (x) => !!x && x.remote.startsWith(`${CL_NEW}:`) }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    expect(g.answeredAfter, `${tail(g.out, 10)}\n${why()}`).toBeGreaterThan(100);
    expect(g.longestGap, `longest gap ${g.longestGap.toFixed(3)} s\n${why()}`).toBeLessThan(2);
    expect([s!.localSpi, s!.remoteSpi]).toEqual([first.localSpi, first.remoteSpi]);
    expect(t.log(), why()).toMatch(new RegExp(`peer moved from ${CL.replace(/\./g, '\\.')}:\\d+ to ${CL_NEW.replace(/\./g, '\\.')}:\\d+ \\(MOBIKE\\)`));
    console.log(`MOBIKE charon -> tsvpn: longest gap between ping answers ${(g.longestGap * 1000).toFixed(0)} ms, ${g.answeredAfter} answered after the move`);
  }, 60_000);
});
