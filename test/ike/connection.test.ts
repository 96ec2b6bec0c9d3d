// The connection layer step by step on a fake clock (src/ike/connection.ts): what an operator
// relies on when a tunnel fails or ages. An initiator tries again 30 s after F1-F4 and stops
// trying once up; a responder never initiates; a dead peer leads to dpdAction; expired SAs
// start over; reauthentication is make-before-break; a peer that restarted (INITIAL_CONTACT)
// has its old IKE SA forgotten; liveness checks follow dpdS of silence once per idle period;
// NAT-T keepalives go out only behind a NAT; after stop() nothing more is started.
import { describe, expect, it } from 'vitest';
import { Connection, RETRY_MS, CHILD_EXPIRED_RESTART_MS, type ConnectionConfig, type ConnectionEffect, type ConnectionSa } from '../../src/ike/connection.js';
import type { IkeSaConfig } from '../../src/ike/config.js';
import type { Effect, IkeEvent, IkeState } from '../../src/ike/effects.js';

const PEER = { addr: '198.51.100.2', port: 500 };

type FakeSa = { -readonly [K in keyof ConnectionSa]: ConnectionSa[K] } & { log: string[] };

function fakeSa(n: number, o: Partial<Pick<FakeSa, 'state' | 'role' | 'remoteId' | 'nat'>> = {}): FakeSa {
  const log: string[] = [];
  const spiI = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, n);
  const send: Effect = { type: 'send', bytes: Uint8Array.of(n), to: PEER, from: { addr: '198.51.100.1', port: 500 } };
  const sa: FakeSa = {
    state: o.state ?? 'ESTABLISHED',
    role: o.role ?? 'initiator',
    spiI,
    remoteId: o.remoteId ?? 'sun.example',
    nat: o.nat ?? { local: false, remote: false },
    remote: PEER,
    log,
    delete: (now) => (log.push(`delete@${now}`), (sa.state = 'DELETING'), [send]),
    forget: () => (log.push('forget'), (sa.state = 'DELETED'), []),
    liveness: (now) => (log.push(`liveness@${now}`), [send]),
  };
  return sa;
}

function rig(c: Partial<ConnectionConfig> = {}) {
  const sas: FakeSa[] = [];
  const initiated: IkeSaConfig[] = [];
  let n = 0;
  const cfg: ConnectionConfig = { name: 'moon', initiator: true, remote: PEER, dpdAction: 'restart', dpdS: 0, keepaliveS: 0, ...c };
  const conn = new Connection(cfg, {
    list: () => sas.filter((s) => s.state !== 'DELETED'),
    initiate: (_now, ikeCfg) => {
      initiated.push(ikeCfg);
      sas.push(fakeSa(++n, { state: 'CONNECTING' }));
      return [];
    },
    ikeConfig: () => ({ name: 'moon', remote: PEER, initialContact: true }) as unknown as IkeSaConfig,
  }, 0);
  /** Apply an event as the daemon does: the event, then what the batch led to. */
  const feed = (now: number, e: IkeEvent): ConnectionEffect[] => {
    conn.onEvent(now, e);
    return conn.takeDeferred(now);
  };
  /**
   * Run the connection's timers up to `until` as the daemon's one timer does: it sleeps until
   * pollTimeout() and runs handleTimeout() only if pollTimeout() then says it is due.
   */
  const run = (from: number, until: number): ConnectionEffect[] => {
    const out: ConnectionEffect[] = [];
    let now = from;
    for (let i = 0; i < 1000; i++) {
      const due = conn.pollTimeout(now);
      if (due === undefined || due > until) break;
      now = Math.max(now, due);
      const still = conn.pollTimeout(now);
      if (still === undefined || still > now) throw new Error(`a deadline for ${due} is not due at ${now} (it would never run)`);
      out.push(...conn.handleTimeout(now));
    }
    return out;
  };
  const up = (sa: FakeSa, now: number, initialContact = false) => {
    sa.state = 'ESTABLISHED';
    return feed(now, { type: 'ike-established', spiI: Buffer.from(sa.spiI).toString('hex'), spiR: '00', proposal: '', localId: '', remoteId: sa.remoteId ?? '', nat: { local: false, remote: false }, initialContact });
  };
  return { conn, sas, initiated, feed, run, up };
}

const f1: IkeEvent = { type: 'failure', row: 'F1', message: 'no response', evidence: { retransmits: 5, to: PEER, from: PEER, exchange: 'IKE_SA_INIT' } };
const notes = (fx: ConnectionEffect[]) => fx.flatMap((e) => (e.type === 'note' ? [e.message] : []));

describe('connection layer: initiating and retrying', () => {
  it('an initiator starts at once; after F1 it tries again 30 s later, ending the failed attempt first', () => {
    const r = rig();
    const fx = r.conn.start(0);
    expect(r.initiated).toHaveLength(1);
    expect(notes(fx)).toEqual(['initiating IKE SA to 198.51.100.2:500 (attempt 1)']);
    r.sas[0].state = 'FAILED';
    expect(notes(r.feed(100, f1))).toEqual([`retrying in ${RETRY_MS / 1000} s`]);
    expect(r.conn.pollTimeout(100)).toBe(100 + RETRY_MS);
    expect(r.run(100, 100 + RETRY_MS - 1)).toEqual([]);
    const again = r.run(100, 100 + RETRY_MS);
    expect(r.initiated).toHaveLength(2);
    expect(notes(again)).toEqual(['initiating IKE SA to 198.51.100.2:500 (attempt 2)']);
  });

  it('once up, no retry is pending and the attempt count starts over', () => {
    const r = rig();
    r.conn.start(0);
    r.feed(10, f1);
    r.up(r.sas[0], 20);
    expect(r.conn.attempts).toBe(0);
    expect(r.conn.pollTimeout(20)).toBeUndefined();
    expect(r.run(20, 10 * RETRY_MS)).toEqual([]);
    expect(r.initiated).toHaveLength(1);
  });

  it('a failure of an SA whose peer never authenticated (anyone can cause one) starts no retry and aborts no reauthentication', () => {
    const r = rig();
    r.conn.start(0);
    const old = r.sas[0];
    r.up(old, 1);
    r.feed(1_000, { type: 'reauth-due', spiI: '00', spiR: '00' });
    const spoofed: IkeEvent = { type: 'failure', row: 'F2', message: 'no acceptable proposal', evidence: { scope: 'ike', ours: [], theirs: [] }, unauthenticated: { from: { addr: '192.0.2.66', port: 500 } } };
    expect(r.feed(1_100, spoofed)).toEqual([]);
    expect(r.conn.pollTimeout(1_100)).toBeUndefined(); // no retry scheduled
    const done = r.up(r.sas[1], 1_200); // the reauthentication goes on
    expect(notes(done)).toEqual(['reauthenticated: deleting the old IKE SA 0000000000000001_i']);
  });

  it('a responder (start: wait, or remote %any) never initiates, also not after a failure', () => {
    const r = rig({ initiator: false, remote: undefined });
    expect(r.conn.start(0)).toEqual([]);
    expect(r.feed(5, f1)).toEqual([]);
    expect(r.conn.pollTimeout(5)).toBeUndefined();
    expect(r.initiated).toHaveLength(0);
  });

  it('a Child SA that expired without a rekey (F6) starts over with a new IKE SA 2 s later; other F6 rows only report', () => {
    const r = rig();
    r.conn.start(0);
    r.up(r.sas[0], 10);
    const refused: IkeEvent = { type: 'failure', row: 'F6', message: 'refused', evidence: { scope: 'child', child: 'net', result: 'refused', lifetimes: {}, pfsGroup: null, oldSpis: [], newSpis: [] } };
    r.feed(20, refused);
    expect(r.conn.pollTimeout(20)).toBeUndefined();
    r.feed(30, { ...refused, evidence: { ...refused.evidence, result: 'expired' } } as IkeEvent);
    expect(r.conn.pollTimeout(30)).toBe(30 + CHILD_EXPIRED_RESTART_MS);
    r.run(30, 30 + CHILD_EXPIRED_RESTART_MS);
    expect(r.initiated).toHaveLength(2);
    expect(r.sas[0].log).toEqual([`delete@${30 + CHILD_EXPIRED_RESTART_MS}`]); // what was left of the old IKE SA
  });

  it('an IKE SA that expired without a rekey is replaced at once', () => {
    const r = rig();
    r.conn.start(0);
    r.up(r.sas[0], 10);
    r.sas[0].state = 'DELETED';
    const fx = r.feed(50, { type: 'ike-deleted', reason: 'expired' });
    expect(notes(fx)[0]).toMatch(/expired without a rekey/);
    expect(r.initiated).toHaveLength(2);
  });
});

describe('connection layer: dead peers (dpdAction)', () => {
  const dead: IkeEvent = { type: 'ike-deleted', reason: 'dead-peer' };

  it('restart initiates again after the batch that declared the peer dead', () => {
    const r = rig({ dpdAction: 'restart' });
    r.conn.start(0);
    r.up(r.sas[0], 1);
    r.sas[0].state = 'DELETED';
    r.conn.onEvent(100, dead);
    expect(r.initiated).toHaveLength(1); // not while the batch is applied
    const fx = r.conn.takeDeferred(100);
    expect(notes(fx)).toEqual(['dead peer: dpdAction restart', 'initiating IKE SA to 198.51.100.2:500 (attempt 1)']);
    expect(r.initiated).toHaveLength(2);
  });

  it('a peer that answered no liveness check is failure F1 with its evidence, reported before dpdAction acts, and starts no F1 retry', () => {
    const r = rig({ dpdAction: 'clear', dpdS: 30 });
    r.conn.start(0);
    r.up(r.sas[0], 0);
    r.conn.heardFrom(10_000);
    r.feed(60_000, { type: 'liveness', ok: false, requests: 3, to: PEER });
    r.sas[0].state = 'DELETED';
    const fx = r.feed(60_000, dead);
    const failures = fx.flatMap((e) => (e.type === 'event' && e.event.type === 'failure' ? [e.event] : []));
    expect(failures).toEqual([{ type: 'failure', row: 'F1', message: 'peer 198.51.100.2:500 declared dead: 3 DPD requests unanswered, last packet from it 50 s ago (dpdAction clear)', evidence: { dpdRequestsUnanswered: 3, peer: '198.51.100.2:500', lastPacketAgoS: 50, dpdAction: 'clear' } }]);
    expect(fx.indexOf(fx.find((e) => e.type === 'event')!)).toBe(0);
    expect(r.feed(60_000, failures[0])).toEqual([]); // the daemon feeds it back: no "retrying in 30 s"
    expect(r.conn.pollTimeout(60_000)).toBeUndefined();
  });

  it('a dead peer without an unanswered liveness check (the SA died otherwise) reports no dead-peer failure', () => {
    const r = rig({ dpdAction: 'clear' });
    r.conn.start(0);
    r.up(r.sas[0], 0);
    r.feed(1_000, { type: 'liveness', ok: false, requests: 2, to: PEER });
    r.feed(2_000, { type: 'liveness', ok: true }); // answered after all
    r.sas[0].state = 'DELETED';
    expect(r.feed(3_000, dead).filter((e) => e.type === 'event')).toEqual([]);
  });

  it('clear does nothing more', () => {
    const r = rig({ dpdAction: 'clear' });
    r.conn.start(0);
    r.up(r.sas[0], 1);
    r.sas[0].state = 'DELETED';
    expect(notes(r.feed(100, dead))).toEqual(['dead peer: dpdAction clear']);
    expect(r.initiated).toHaveLength(1);
    expect(r.conn.pollTimeout(100)).toBeUndefined();
  });

  it('hold routes the traffic into the TUN and initiates on the first packet, once', () => {
    const r = rig({ dpdAction: 'hold' });
    r.conn.start(0);
    r.up(r.sas[0], 1);
    r.sas[0].state = 'DELETED';
    const fx = r.feed(100, dead);
    expect(fx.filter((e) => e.type === 'hold')).toEqual([{ type: 'hold', armed: true }]);
    expect(r.initiated).toHaveLength(1);
    const t = r.conn.traffic(5_000);
    expect(notes(t)).toEqual(['hold: traffic for the tunnel, initiating', 'initiating IKE SA to 198.51.100.2:500 (attempt 1)']);
    expect(r.initiated).toHaveLength(2);
    expect(r.conn.traffic(5_001)).toEqual([]); // the next packets start nothing more
  });

  it('traffic starts nothing when not holding', () => {
    const r = rig({ dpdAction: 'hold' });
    r.conn.start(0);
    expect(r.conn.traffic(10)).toEqual([]);
    expect(r.initiated).toHaveLength(1);
  });
});

describe('connection layer: reauthentication (RFC 7296 §2.8.3) and INITIAL_CONTACT (§2.4)', () => {
  it('make-before-break: the new IKE SA comes up without INITIAL_CONTACT, then the old one is deleted', () => {
    const r = rig();
    r.conn.start(0);
    const old = r.sas[0];
    r.up(old, 1);
    const fx = r.feed(3_600_000, { type: 'reauth-due', spiI: '00', spiR: '00' });
    expect(notes(fx)[0]).toMatch(/^reauthenticating: a new IKE SA to 198.51.100.2:500 replaces 0000000000000001_i/);
    expect(r.initiated).toHaveLength(2);
    expect(r.initiated[1].initialContact).toBe(false);
    expect(old.log).toEqual([]); // still carries the traffic
    const done = r.up(r.sas[1], 3_600_100);
    expect(notes(done)).toEqual(['reauthenticated: deleting the old IKE SA 0000000000000001_i']);
    expect(old.log).toEqual(['delete@3600100']);
    expect(r.sas[1].log).toEqual([]);
    expect(r.conn.reauths).toBe(1);
  });

  it('a failed reauthentication keeps the current IKE SA and tries again 30 s later', () => {
    const r = rig();
    r.conn.start(0);
    const old = r.sas[0];
    r.up(old, 1);
    r.feed(1_000, { type: 'reauth-due', spiI: '00', spiR: '00' });
    r.sas[1].state = 'FAILED';
    expect(notes(r.feed(1_500, f1))[0]).toMatch(/reauthentication failed \(F1\): the current IKE SA stays in use/);
    expect(old.log).toEqual([]);
    r.run(1_500, 1_500 + RETRY_MS);
    expect(r.initiated).toHaveLength(3);
    expect(r.initiated[2].initialContact).toBe(false); // a reauthentication again, not a fresh start
    expect(old.log).toEqual([]);
  });

  it('reauthentication needs the peer address: with %any the current IKE SA stays', () => {
    const r = rig({ initiator: false, remote: undefined });
    const sa = fakeSa(9, { role: 'responder' });
    r.sas.push(sa);
    expect(notes(r.feed(10, { type: 'reauth-due', spiI: '00', spiR: '00' }))).toEqual(['reauthentication needs remote.addr (not %any): keeping the current IKE SA']);
    expect(r.initiated).toHaveLength(0);
  });

  it('INITIAL_CONTACT: the peer restarted, its old responder IKE SA (same identity) is forgotten without a Delete', () => {
    const r = rig({ initiator: false, remote: undefined });
    const oldSame = fakeSa(1, { role: 'responder', remoteId: 'sun.example' });
    const other = fakeSa(2, { role: 'responder', remoteId: 'venus.example' });
    const mine = fakeSa(3, { role: 'initiator', remoteId: 'sun.example' });
    const fresh = fakeSa(4, { role: 'responder', remoteId: 'sun.example', state: 'CONNECTING' });
    r.sas.push(oldSame, other, mine, fresh);
    const fx = r.up(fresh, 100, true);
    expect(notes(fx)).toEqual(['the peer replaced IKE SA 0000000000000001_i: deleting it']);
    expect(oldSame.log).toEqual(['forget']);
    expect([other.log, mine.log, fresh.log]).toEqual([[], [], []]);
  });

  it('without INITIAL_CONTACT the old IKE SA stays (the peer may be reauthenticating)', () => {
    const r = rig({ initiator: false, remote: undefined });
    const old = fakeSa(1, { role: 'responder' });
    const fresh = fakeSa(2, { role: 'responder', state: 'CONNECTING' });
    r.sas.push(old, fresh);
    expect(r.up(fresh, 100, false)).toEqual([]);
    expect(old.log).toEqual([]);
  });
});

describe('connection layer: liveness (RFC 7296 §2.4) and NAT-T keepalives (RFC 3948 §4)', () => {
  it('checks liveness after dpdS of silence, once per idle period, again after the peer was heard', () => {
    const r = rig({ dpdS: 30 });
    r.conn.start(0);
    const sa = r.sas[0];
    r.up(sa, 0);
    r.conn.heardFrom(5_000);
    expect(r.conn.pollTimeout(5_000)).toBe(35_000);
    r.run(5_000, 100_000);
    expect(sa.log).toEqual(['liveness@35000']);
    r.conn.heardFrom(100_000);
    r.run(100_000, 140_000);
    expect(sa.log).toEqual(['liveness@35000', 'liveness@130000']);
    expect(r.conn.stats.dpdChecks).toBe(2);
  });

  it('sends a keepalive every keepaliveS only while we are behind a NAT', () => {
    const r = rig({ keepaliveS: 20 });
    r.conn.start(0);
    r.up(r.sas[0], 0);
    expect(r.run(0, 65_000)).toEqual([]);
    const natted = rig({ keepaliveS: 20 });
    natted.conn.start(0);
    natted.sas[0].nat = { local: true, remote: false };
    natted.up(natted.sas[0], 0);
    const fx = natted.run(0, 65_000);
    expect(fx).toEqual([1, 2, 3].map(() => ({ type: 'keepalive', to: PEER })));
    expect(natted.conn.stats.keepalives).toBe(3);
  });
});

describe('connection layer: F8 (the NAT mapping changed) and F1 no answer yet', () => {
  const moved = (local: boolean): IkeEvent => ({ type: 'peer-moved', from: { addr: '203.0.113.7', port: 34500 }, to: { addr: '203.0.113.7', port: 44500 }, via: 'esp', nat: { local, remote: true } });

  it('a peer that moved is failure F8 with old -> new, what noticed it, the NAT-D results and the keepalive state; nothing is retried', () => {
    const r = rig({ keepaliveS: 0 });
    r.conn.start(0);
    r.up(r.sas[0], 0);
    const fx = r.feed(1000, moved(false));
    expect(fx).toEqual([
      {
        type: 'event',
        event: {
          type: 'failure',
          row: 'F8',
          message: 'the NAT in front of the peer changed its mapping: authenticated ESP came from 203.0.113.7:44500 (was 203.0.113.7:34500); IKE and ESP now go there',
          evidence: { peer: { from: '203.0.113.7:34500', to: '203.0.113.7:44500' }, noticedBy: 'esp', nat: { local: false, remote: true }, keepalive: { intervalS: 0, state: 'off' } },
        },
      },
    ]);
    // the F8 event itself, fed back as the daemon does, starts no retry
    r.feed(1000, (fx[0] as { event: IkeEvent }).event);
    expect(r.conn.pollTimeout(1000)).toBeUndefined();
    expect(r.initiated).toHaveLength(1);
  });

  it('keepalive state in F8: on while we are behind a NAT, not-needed when only the peer is', () => {
    const r = rig({ keepaliveS: 20 });
    r.conn.start(0);
    const ev = (e: ConnectionEffect[]) => ((e[0] as { event: { evidence: { keepalive: unknown } } }).event.evidence.keepalive);
    expect(ev(r.feed(0, moved(true)))).toEqual({ intervalS: 20, state: 'on' });
    expect(ev(r.feed(0, moved(false)))).toEqual({ intervalS: 20, state: 'not-needed' });
  });

  it('behind a NAT with keepalives off, establishment warns that inbound traffic may be lost silently (F8)', () => {
    const established = (local: boolean): IkeEvent => ({ type: 'ike-established', spiI: '01', spiR: '02', proposal: '', localId: '', remoteId: '', nat: { local, remote: false } });
    const off = rig({ keepaliveS: 0 });
    off.conn.start(0);
    expect(notes(off.feed(0, established(true)))).toEqual([expect.stringMatching(/^F8: we are behind a NAT and NAT-T keepalives are off .*lost silently/)]);
    const on = rig({ keepaliveS: 20 });
    on.conn.start(0);
    expect(notes(on.feed(0, established(true)))).toEqual([]);
    const noNat = rig({ keepaliveS: 0 });
    noNat.conn.start(0);
    expect(notes(noNat.feed(0, established(false)))).toEqual([]);
  });

  it('F1 no answer yet (pending) starts no retry: the retransmits go on', () => {
    const r = rig();
    r.conn.start(0);
    const pending: IkeEvent = { type: 'failure', row: 'F1', message: 'no answer yet', evidence: { pending: true, retransmits: 1, to: PEER, from: PEER, exchange: 'IKE_SA_INIT', nextRetransmitInS: 7 } };
    expect(r.feed(4000, pending)).toEqual([]);
    expect(r.conn.pollTimeout(4000)).toBeUndefined();
  });
});

describe('connection layer: stop', () => {
  it('deletes every IKE SA and starts nothing afterwards, whatever happens', () => {
    const r = rig({ dpdAction: 'restart' });
    r.conn.start(0);
    r.up(r.sas[0], 1);
    r.feed(2, f1); // a retry is pending
    const fx = r.conn.stop(10);
    expect(fx.filter((e) => e.type === 'send')).toHaveLength(1);
    expect(r.sas[0].log).toEqual(['delete@10']);
    r.sas[0].state = 'DELETED';
    expect(r.feed(20, { type: 'ike-deleted', reason: 'dead-peer' })).toEqual([]);
    expect(r.run(20, 10 * RETRY_MS)).toEqual([]);
    expect(r.conn.traffic(30)).toEqual([]);
    expect(r.initiated).toHaveLength(1);
  });
});
