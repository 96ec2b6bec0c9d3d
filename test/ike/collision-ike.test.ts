// IKE SA rekey collisions (RFC 7296 §2.8.1) and an IKE SA rekey against a Delete (§2.25.2),
// one message at a time; the cases of strongSwan's test_ike_rekey.c "collisions" suites that
// apply without multiple key exchanges (read for the case list; written anew here).
import { describe, it, expect } from 'vitest';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import type { SideOptions } from './helpers/pair.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 51 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 52 };
const spis = (sa: IkeSa) => `${Buffer.from(sa.spiI).toString('hex')}/${Buffer.from(sa.spiR).toString('hex')}`;
const LOW = 0x00;
const HIGH = 0xff;
const FOUR: number[][] = [[LOW, HIGH, HIGH, HIGH], [HIGH, LOW, HIGH, HIGH], [HIGH, HIGH, LOW, HIGH], [HIGH, HIGH, HIGH, LOW]];
const THREE: number[][] = [[LOW, HIGH, HIGH], [HIGH, LOW, HIGH], [HIGH, HIGH, LOW]];

function bothRekey(lab: Lab, n: number[]) {
  lab.nonceByte.a = n[0];
  lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
  lab.nonceByte.b = n[1];
  lab.cmd('b', (sa) => sa.rekeyIke(lab.now));
}

/** Let retransmits and lingering SAs run their course for `ms` (both ends' timers, in order). */
function runTimers(lab: Lab, ms: number): void {
  const end = lab.now + ms;
  for (let n = 0; n < 100; n++) {
    lab.flush();
    const due = [lab.a.pollTimeout(), lab.b.pollTimeout()].filter((t): t is number => t !== undefined && t <= end);
    if (due.length === 0) break;
    lab.advance(Math.max(lab.now, Math.min(...due)));
  }
  lab.now = end;
}

/** At rest: one IKE SA per side, the same SPIs, holding the one Child SA pair. */
function settled(lab: Lab): IkeSa {
  expect(lab.a.list().length).toBe(1);
  expect(lab.b.list().length).toBe(1);
  const a = lab.a.list()[0];
  expect(a.state).toBe('ESTABLISHED');
  expect(spis(a)).toBe(spis(lab.b.list()[0]));
  lab.expectOnePair();
  expect(a.children.length).toBe(1);
  return a;
}

describe('§2.8.1: simultaneous IKE SA rekeys', () => {
  FOUR.forEach((n, i) => {
    const aLost = i === 0 || i === 2;
    it(`§2.8.1: simultaneous IKE rekey, the exchange with the lowest nonce (N${i + 1}) makes the redundant IKE SA, deleted by its creator`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      const dp = lab.dp.a.log.length;
      bothRekey(lab, n);
      lab.nonceByte.b = n[2];
      lab.deliver('b'); // --> a's request: b answers but keeps its Child SAs until its own exchange is done
      expect(lab.ike('b').state).toBe('ESTABLISHED');
      lab.nonceByte.a = n[3];
      lab.deliver('a'); // <-- b's request: a answers
      lab.deliver('a'); // <-- b's response: a settles
      lab.deliver('b'); // --> a's response: b settles
      expect(ofType(lab.events('a'), 'rekey-collision')).toEqual([{ type: 'rekey-collision', scope: 'ike', won: !aLost }]);
      expect(ofType(lab.events('b'), 'rekey-collision')).toEqual([{ type: 'rekey-collision', scope: 'ike', won: aLost }]);
      lab.flush();
      const kept = settled(lab);
      expect(kept.role).toBe(aLost ? 'responder' : 'initiator'); // the surviving SA came from the winner's exchange
      expect(lab.dp.a.log.length).toBe(dp);
      for (const s of ['a', 'b'] as const) expect(ofType(lab.events(s), 'failure')).toEqual([]);
    });

    it(`§2.8.1: IKE rekey collision with b's response delayed past the Deletes (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      bothRekey(lab, n);
      lab.nonceByte.b = n[2];
      lab.deliver('b');
      lab.nonceByte.a = n[3];
      lab.deliver('a');
      const late = lab.hold('a');
      lab.deliver('b');
      lab.flush();
      lab.deliver('a', late); // may arrive at an IKE SA that is gone: then it is dropped
      // a Delete that reached a before a knew the SA it names is retransmitted; an SA
      // nobody deletes is dropped after a minute (strongSwan test_collision_delayed_response)
      runTimers(lab, 70_000);
      settled(lab);
    });
  });

  THREE.forEach((n, i) => {
    it(`§2.8.1: a's IKE rekey request is lost; b does not see a collision and wins; a completes b's rekey on the Delete (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.nonceByte.a = n[0];
      lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
      lab.hold('b'); // dropped
      lab.nonceByte.b = n[1];
      lab.cmd('b', (sa) => sa.rekeyIke(lab.now));
      lab.nonceByte.a = n[2];
      lab.deliver('a'); // <-- b's request: a answers, holding the new SA until its own rekey is answered
      lab.deliver('b'); // --> response: b moves its Child SAs and deletes the old IKE SA
      lab.deliver('a'); // <-- D(old): a moves its Child SAs to the SA it answered with
      lab.flush();
      const kept = settled(lab);
      expect(kept.role).toBe('responder'); // b's exchange made it
      lab.advance(lab.now + 200_000); // a's lost request is not retransmitted from an SA that is gone
      expect(lab.queue.b.length).toBe(0);
    });

    it(`§2.25.2: a's IKE rekey request is delayed until b deletes the old IKE SA: TEMPORARY_FAILURE (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.nonceByte.a = n[0];
      lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
      const late = lab.hold('b');
      lab.nonceByte.b = n[1];
      lab.cmd('b', (sa) => sa.rekeyIke(lab.now));
      lab.nonceByte.a = n[2];
      lab.deliver('a');
      lab.deliver('b'); // b wins without seeing a collision and deletes the old IKE SA
      lab.deliver('b', late); // --> a's request to an IKE SA b is deleting: TEMPORARY_FAILURE
      lab.deliver('a'); // <-- D(old)
      lab.deliver('a'); // <-- TEMPORARY_FAILURE: for an SA that is gone, dropped
      lab.flush();
      settled(lab);
    });
  });
});

describe('§2.8.1: IKE SA rekey collisions with INVALID_KE_PAYLOAD and late messages', () => {
  THREE.forEach((n, i) => {
    it(`§2.8.1: a's request is delayed and b's Delete of the old IKE SA comes after the TEMPORARY_FAILURE: a completes b's rekey on the TEMPORARY_FAILURE (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      bothRekey(lab, n);
      const late = lab.hold('b');
      lab.nonceByte.a = n[2];
      lab.deliver('a'); // <-- b's request: a answers
      lab.deliver('b'); // --> a's answer: b moves its Child SAs, deletes the old IKE SA
      lab.deliver('b', late); // --> a's delayed request: TEMPORARY_FAILURE
      const del = lab.hold('a');
      lab.deliver('a'); // <-- TEMPORARY_FAILURE: a's rekey failed, the one it answered stands
      expect(lab.a.list().find((s) => s.state === 'REKEYED')).toBeTruthy();
      expect(lab.ike('a').children.length).toBe(1);
      lab.deliver('a', del); // <-- D(old), late
      lab.flush();
      settled(lab);
    });
  });

  FOUR.forEach((n, i) => {
    it(`§2.8.1 with INVALID_KE_PAYLOAD for one side's IKE rekey: the retry and the other rekey still end in one IKE SA (lowest nonce N${i + 1})`, () => {
      const lab = new Lab({ ...moon, ike: ['aes256gcm16-prfsha256-x25519-ecp256'] }, { ...sun, ike: ['aes256gcm16-prfsha256-ecp256-x25519'] });
      lab.establish();
      bothRekey(lab, n);
      lab.nonceByte.b = n[2];
      lab.deliver('b'); // --> a's KE is x25519, b wants ecp256: INVALID_KE_PAYLOAD
      lab.nonceByte.a = n[3];
      lab.deliver('a'); // <-- b's request (x25519, which a prefers): a answers
      lab.deliver('a'); // <-- INVALID_KE: a retries with ecp256
      runTimers(lab, 70_000);
      settled(lab);
      for (const s of ['a', 'b'] as const) expect(ofType(lab.events(s), 'failure')).toEqual([]);
    });
  });
});

describe('§2.25.2: IKE SA rekey against a Delete of the IKE SA', () => {
  for (const by of ['a', 'b'] as const) {
    const peer = by === 'a' ? 'b' : 'a';
    it(`§2.25.2: the ${by === 'a' ? 'initiator' : 'responder'} rekeys an IKE SA the peer deletes: TEMPORARY_FAILURE, then both are gone`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyIke(lab.now));
      lab.cmd(peer, (sa) => sa.delete(lab.now));
      lab.deliver(peer); // --> IKE rekey of an IKE SA being deleted: TEMPORARY_FAILURE
      lab.deliver(by); // <-- D(IKE)
      lab.flush();
      expect(lab.a.list()).toEqual([]);
      expect(lab.b.list()).toEqual([]);
      for (const s of ['a', 'b'] as const) expect(lab.dp[s].sas.size).toBe(0);
    });

    it(`§2.25.2: the Delete of the IKE SA is delayed: the ${by === 'a' ? 'initiator' : 'responder'} schedules a retry, then the late Delete ends everything`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyIke(lab.now));
      lab.cmd(peer, (sa) => sa.delete(lab.now));
      lab.deliver(peer);
      const del = lab.hold(by);
      lab.deliver(by); // <-- TEMPORARY_FAILURE: retry later
      const retry = lab.ike(by).rekeyAt! - lab.now;
      expect(retry).toBeGreaterThanOrEqual(2000);
      expect(retry).toBeLessThanOrEqual(10_000);
      lab.deliver(by, del);
      lab.flush();
      expect(lab.a.list()).toEqual([]);
      expect(lab.b.list()).toEqual([]);
    });
  }
});
