// Issue 5, tsvpn <-> strongSwan: rekeys under load, both roles. A 60 s iperf3 TCP transfer
// runs through the tunnel while the Child SA is rekeyed every 5 s and the IKE SA every 17-20 s
// (RFC 7296 §1.3.3, §2.18). Leg A: tsvpn is the IKE initiator and its own timers drive the
// rekeys (peer.json child.rekey 5s, ike.rekey 20s). Leg B: tsvpn is the IKE responder and
// strongSwan's timers drive them (swanctl.conf rekey_time 5s / 17s, IKE_REKEY_B says why). Each leg
// checks what an operator would: the transfer completes; `tsvpn status` counts the Child and IKE rekeys;
// `swanctl --list-sas`, polled during the run, shows new inbound Child SPIs and new IKE SPI
// pairs; no packet was dropped on tsvpn's side for a missing SA (make-before-break, §2.8)
// and tsvpn reports no failure.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';

import { iperfTcp, type TcpResult } from '../../bench/lab/iperf.js';
import type { InteropCase, Role } from '../../interop/cases/types.js';
import { startPeers, waitInstalled, type Peers } from '../../interop/lab/run-case.js';
import { buildConfigs, buildTopology, CHILD, type Topology } from '../../interop/lab/setup.js';
import { strongswanSupport } from '../../interop/lab/strongswan.js';
import type { TunnelStatus } from '../../interop/lab/tsvpn.js';
import { sleep } from '../../interop/lab/wait.js';
import { netnsSupport } from '../../src/io/netns.js';
import { NO_SA_REASONS, noSaDrops } from '../../src/daemon/status.js';

const iperf = spawnSync('iperf3', ['--version']).error === undefined ? { ok: true as const } : { ok: false as const, why: 'iperf3 is missing (apt-get install iperf3)' };
const reasons = [netnsSupport(), strongswanSupport(), iperf].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

const tail = (text: string, n = 30): string => text.split('\n').slice(-n).join('\n');
/** charon's lines about Child SA rekeys that did not happen: a lost rekey job, a refused or failed rekey, a hard expiry. */
const charonRekeyLines = (log: string): string =>
  log
    .split('\n')
    .filter((l) => /not found for rekey|rekeying failed|TEMPORARY_FAILURE|CHILD_SA_NOT_FOUND|NO_PROPOSAL_CHOSEN|closing expired CHILD_SA/.test(l))
    .slice(-20)
    .join('\n');

const SECONDS = 60;

// Leg B's IKE rekey time: not a multiple of the Child's 5 s, so within the 60 s the two never fall
// due together (17/15-20, 34/35, 51/50: at least 1 s apart; each Child rekey drifts a few ms).
// With 20 s, every fourth Child rekey fell due within milliseconds of the IKE rekey, and charon
// 5.9.8 then loses the Child rekey to its own race: the rekey job looks up the Child SA's IKE SA,
// waits for it while the thread handling the IKE rekey response moves the Child SA to the new IKE
// SA, finds no Child SA and does nothing else. charon's log (ms) when this leg ran IKE rekeys every
// 5 s (twice in 3 runs):
//   05:30:09.597 10[ENC] parsed CREATE_CHILD_SA response 2 [ SA No KE ]
//   05:30:09.597 04[KNL] creating rekey job for CHILD_SA ESP/0xd43ac4c6/198.51.100.2
//   05:30:09.598 10[IKE] IKE_SA lab[3] rekeyed between ...
//   05:30:09.598 11[JOB] CHILD_SA ESP/0xd43ac4c6/198.51.100.2 not found for rekey
//   05:30:14.598 14[IKE] closing expired CHILD_SA net{2} with SPIs d43ac4c6_i f83cd761_o ...
// and tsvpn's log "Child SA net deleted (peer)" 5.0 s after the IKE rekey, no Child SA after it,
// iperf3 killed without JSON: CI's failure. tsvpn answered every order charon used
// (test/ike/rekey-coincide.test.ts), so this leg measures rekeys under load, not charon's race;
// `charonRekeyLines` prints such lines if a Child rekey goes missing again.
const IKE_REKEY_B = '17s';

/** One leg: PSK, AES-GCM, direct veth; only the rekey timers and the role differ. */
function loadCase(role: Role): InteropCase {
  return {
    name: `rekey under load, tsvpn ${role}`,
    roles: [role],
    auth: 'psk',
    ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
    esp: { tsvpn: ['aes256gcm16'] },
    timers:
      role === 'initiator'
        ? // tsvpn drives: 5 s / 20 s (jittered down by up to 10%, swanctl's rand_time default); strongSwan keeps 1 h / 4 h
          { tsvpn: { child: '5s', ike: '20s' } }
        : // strongSwan drives, tsvpn keeps 1 h / 4 h. Child: rand_time 0 (strongSwan 5.9.8 subtracts up
          // to rand_time + 1 s and truncates to whole seconds, so rand_time 1s rekeys every 3-4 s);
          // IKE: rand_time 1s (random() % 1: exactly IKE_REKEY_B). Lifetimes 2x rekey.
          { strongswan: { child: { rekey: '5s', rand: '0s', life: '10s' }, ike: { rekey: IKE_REKEY_B, rand: '1s', over: IKE_REKEY_B } } },
  };
}

interface Seen {
  /** strongSwan's inbound Child SPIs (INSTALLED SAs of the child) seen by polling list-sas. */
  ssChildSpis: Set<string>;
  /** strongSwan's ESTABLISHED IKE SAs, as initiator-SPI_responder-SPI. */
  ssIkePairs: Set<string>;
  /** strongSwan's `initiator` flag on those IKE SAs (who started the current IKE SA: the rekeying side, §2.18). */
  ssInitiator: Set<boolean>;
  /** tsvpn's inbound Child SPIs, and the largest rekey counts its status showed. */
  tvChildSpis: Set<string>;
  tvChildRekeys: number;
  tvIkeRekeys: number;
  polls: number;
  pollErrors: string[];
}

// everything a leg started, stopped in afterEach even when the test failed or timed out
let cleanup: { stopWatch?: () => void; peers: Peers; topo?: Topology } | undefined;
afterEach(async () => {
  const c = cleanup;
  cleanup = undefined;
  if (!c) return;
  c.stopWatch?.();
  await c.peers.tv?.stop();
  await c.peers.ss?.stop();
  c.topo?.destroy();
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('tsvr-'));
  expect(left, 'namespaces left after the leg').toEqual([]);
}, 30_000);

async function leg(role: Role): Promise<void> {
  const t0 = Date.now();
  const c = loadCase(role);
  const peers: Peers = {};
  cleanup = { peers };
  const topo = (cleanup.topo = buildTopology(c, role, { prefix: 'tsvr' }));
  const cfg = buildConfigs(c, role, topo);
  const { tv, ss } = await startPeers(c, role, topo, cfg, peers);
  if (!ss) throw new Error('strongSwan did not start');
  await waitInstalled(tv, ss);
  const before = await tv.status();
  if (!before) throw new Error(`tsvpn did not answer status once the tunnel was up\n${tail(tv.log())}`);

  const seen: Seen = { ssChildSpis: new Set(), ssIkePairs: new Set(), ssInitiator: new Set(), tvChildSpis: new Set(), tvChildRekeys: 0, tvIkeRekeys: 0, polls: 0, pollErrors: [] };
  const noteTsvpn = (s: TunnelStatus | undefined): void => {
    for (const sa of s?.ikeSas ?? []) {
      seen.tvIkeRekeys = Math.max(seen.tvIkeRekeys, sa.rekeys ?? 0);
      for (const ch of sa.children) {
        seen.tvChildSpis.add(ch.spiIn);
        seen.tvChildRekeys = Math.max(seen.tvChildRekeys, ch.rekeys);
      }
    }
  };
  noteTsvpn(before);
  let done = false;
  cleanup.stopWatch = () => (done = true);
  const watch = (async () => {
    while (!done) {
      try {
        for (const sa of ss.listSas()) {
          if (sa.state !== 'ESTABLISHED') continue;
          seen.ssIkePairs.add(`${sa.initiatorSpi}_${sa.responderSpi}`);
          seen.ssInitiator.add(sa.initiator);
          for (const ch of sa.children) if (ch.name === CHILD && ch.state === 'INSTALLED') seen.ssChildSpis.add(ch.spiIn);
        }
      } catch (e) {
        if (seen.pollErrors.length < 5) seen.pollErrors.push((e as Error).message.slice(0, 200));
      }
      noteTsvpn(await tv.status());
      seen.polls++;
      await sleep(700);
    }
  })();

  let tcp: TcpResult | undefined;
  let tcpError: unknown;
  try {
    tcp = await iperfTcp({ client: { ns: topo.tsvpn.ns, addr: topo.tsvpn.inner }, server: { ns: topo.ss.ns, addr: topo.ss.inner } }, SECONDS);
  } catch (e) {
    tcpError = e;
  } finally {
    done = true;
    await watch;
  }
  const cli = tv.statusCli(); // what an operator runs: tsvpn status --json <name>
  const after = cli.status;
  noteTsvpn(after);
  const charonLog = ss.log();
  // the exchanges in charon's log show which side started each rekey (RFC 7296 §1.3.3, §2.18)
  const count = (re: RegExp): number => charonLog.split('\n').filter((l) => re.test(l)).length;
  const exchanges = {
    ssSentChildRekeys: count(/generating CREATE_CHILD_SA request \d+ \[[^\]]*N\(REKEY_SA\)/),
    ssGotChildRekeys: count(/parsed CREATE_CHILD_SA request \d+ \[[^\]]*N\(REKEY_SA\)/),
    ssSentIkeRekeys: count(/generating CREATE_CHILD_SA request \d+ \[ SA No KE \]/),
    ssGotIkeRekeys: count(/parsed CREATE_CHILD_SA request \d+ \[ SA No KE \]/),
  };
  const summary = {
    role,
    iperf: tcp ?? String(tcpError),
    ssChildSpis: [...seen.ssChildSpis],
    ssIkePairs: [...seen.ssIkePairs],
    ssInitiator: [...seen.ssInitiator],
    tvChildSpis: seen.tvChildSpis.size,
    tvChildRekeys: seen.tvChildRekeys,
    tvIkeRekeys: seen.tvIkeRekeys,
    exchanges,
    polls: seen.polls,
    pollErrors: seen.pollErrors,
    drops: { before: before.drops, after: after?.drops },
    lastFailure: after?.lastFailure,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  console.log(`rekey-load ${role}: ${JSON.stringify(summary)}`);
  const diag = `${JSON.stringify(summary, null, 1)}\n--- tsvpn log ---\n${tail(tv.log())}\n--- charon log ---\n${tail(charonLog)}\n--- charon: Child SA rekeys that did not happen ---\n${charonRekeyLines(charonLog)}`;

  // the transfer ran its whole time through the rekeys and carried data
  expect(tcpError, `iperf3 through the tunnel failed\n${diag}`).toBeUndefined();
  expect(tcp!.seconds, diag).toBeGreaterThan(SECONDS - 1);
  expect(tcp!.mbps, diag).toBeGreaterThan(1);
  expect(cli.code, `tsvpn status --json exited ${cli.code}: ${cli.output.slice(0, 300)}`).toBe(0);

  // tsvpn counts the rekeys, whichever side started them: children[].rekeys, ikeSas[].rekeys
  expect(seen.tvChildRekeys, `tsvpn status children[].rekeys\n${diag}`).toBeGreaterThanOrEqual(10);
  expect(seen.tvIkeRekeys, `tsvpn status ikeSas[].rekeys\n${diag}`).toBeGreaterThanOrEqual(2);
  // strongSwan's own view: new inbound Child SPIs and new IKE SA SPI pairs
  expect(seen.ssChildSpis.size, `distinct inbound Child SPIs in swanctl --list-sas: ${[...seen.ssChildSpis].join(' ')}\n${diag}`).toBeGreaterThanOrEqual(10);
  expect(seen.ssIkePairs.size, `distinct IKE SPI pairs in swanctl --list-sas: ${[...seen.ssIkePairs].join(' ')}\n${diag}`).toBeGreaterThanOrEqual(2);
  // the intended side drove the rekeys: every IKE SA had the rekeying side as initiator, and
  // the CREATE_CHILD_SA requests for the Child SA rekeys went the intended way
  expect([...seen.ssInitiator], `strongSwan initiator flag on its IKE SAs (tsvpn ${role})\n${diag}`).toEqual([role === 'responder']);
  if (role === 'initiator') expect(exchanges.ssGotChildRekeys, `Child SA rekeys tsvpn started, in charon's log\n${diag}`).toBeGreaterThanOrEqual(10);
  else expect(exchanges.ssSentChildRekeys, `Child SA rekeys strongSwan started, in charon's log\n${diag}`).toBeGreaterThanOrEqual(10);

  // no packet found no SA on tsvpn's side (counted from the status taken once the tunnel was up), no failure
  expect(noSaDrops(after!, before), `tsvpn drops for a missing SA (${NO_SA_REASONS.join(', ')}); before ${JSON.stringify(before.drops)}, after ${JSON.stringify(after!.drops)}\n${diag}`).toEqual({});
  expect(after!.lastFailure, diag).toBeNull();
  // and the tunnel is still up: one ESTABLISHED IKE SA with an INSTALLED Child SA
  const est = after!.ikeSas.filter((sa) => sa.state === 'ESTABLISHED');
  expect(est.length, diag).toBe(1);
  expect(est[0].children.some((ch) => ch.state === 'INSTALLED'), diag).toBe(true);
}

describe.skipIf(!ok)(`rekey under load, tsvpn <-> strongSwan 5.9.8 ${ok ? '(needs root, netns, strongSwan, iperf3)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  it(`leg A: tsvpn IKE initiator rekeys (Child 5 s, IKE 20 s) during ${SECONDS} s of iperf3 TCP`, { timeout: 150_000 }, () => leg('initiator'));
  it(`leg B: strongSwan IKE initiator rekeys (Child 5 s, IKE ${IKE_REKEY_B.replace('s', ' s')}), tsvpn responds, during ${SECONDS} s of iperf3 TCP`, { timeout: 150_000 }, () => leg('responder'));
});
