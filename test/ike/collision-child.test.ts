// Child SA rekey collisions (RFC 7296 §2.8.1) and rekeys that meet a Delete or an IKE SA rekey
// (§2.25), one message at a time. The cases are those of strongSwan's test_child_rekey.c
// "collisions" suites (read for the case list; written anew here). After every message the
// harness checks that the SA each end sends on is one the other end can decrypt.
import { describe, it, expect } from 'vitest';
import type { Effect } from '../../src/ike/effects.js';
import type { SideOptions } from './helpers/pair.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 31 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 32 };
const installed = (fx: Effect[]): number[] => fx.flatMap((e) => (e.type === 'install-sa' ? [e.child.spiIn] : []));
const LOW = 0x00;
const HIGH = 0xff;
/** Four nonces, one of them lowest: N1 (a's request), N2 (b's request), N3 (b's response), N4 (a's response). */
const FOUR: number[][] = [[LOW, HIGH, HIGH, HIGH], [HIGH, LOW, HIGH, HIGH], [HIGH, HIGH, LOW, HIGH], [HIGH, HIGH, HIGH, LOW]];
const THREE: number[][] = [[LOW, HIGH, HIGH], [HIGH, LOW, HIGH], [HIGH, HIGH, LOW]];
const noRetry = (lab: Lab, side: 'a' | 'b') => expect(lab.child(side).rekeyAt! - lab.now).toBeGreaterThan(600_000);

/** Both ends start a rekey of the same Child SA; returns the SPIs each end made. */
function bothRekey(lab: Lab, n: number[]) {
  lab.nonceByte.a = n[0];
  lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
  lab.nonceByte.b = n[1];
  lab.cmd('b', (sa) => sa.rekeyChild(lab.now, lab.child('b').spiIn));
}

describe('§2.8.1: simultaneous Child SA rekeys', () => {
  FOUR.forEach((n, i) => {
    const aLost = i === 0 || i === 2; // the lowest nonce is in a's exchange (N1 or N3)
    it(`§2.8.1: simultaneous Child rekey, the exchange with the lowest nonce (N${i + 1}) makes the redundant SA, deleted by its creator`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      bothRekey(lab, n);
      lab.nonceByte.b = n[2];
      const passiveB = installed(lab.deliver('b'))[0]; // --> a's request: b answers, its old SA is REKEYED
      expect(lab.children('b').find((c) => c.state === 'REKEYED')).toBeTruthy();
      lab.nonceByte.a = n[3];
      const passiveA = installed(lab.deliver('a'))[0]; // <-- b's request: a answers too
      const ownA = installed(lab.deliver('a'))[0]; // <-- b's response: a settles the collision
      const ownB = installed(lab.deliver('b'))[0]; // --> a's response: b settles it
      expect(ofType(lab.events('a'), 'rekey-collision')).toEqual([{ type: 'rekey-collision', scope: 'child', won: !aLost }]);
      expect(ofType(lab.events('b'), 'rekey-collision')).toEqual([{ type: 'rekey-collision', scope: 'child', won: aLost }]);
      lab.flush();
      const kept = lab.expectOnePair();
      expect(kept).toEqual(aLost ? { a: passiveA, b: ownB } : { a: ownA, b: passiveB });
      for (const s of ['a', 'b'] as const) expect(ofType(lab.events(s), 'failure')).toEqual([]);
    });

    it(`§2.8.1: collision with b's response delayed past the Deletes (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      bothRekey(lab, n);
      lab.nonceByte.b = n[2];
      lab.deliver('b');
      lab.nonceByte.a = n[3];
      lab.deliver('a');
      const late = lab.hold('a'); // b's CREATE_CHILD_SA response
      lab.deliver('b'); // --> a's response
      while (lab.queue.a.length || lab.queue.b.length) lab.flush();
      lab.deliver('a', late);
      lab.flush();
      lab.expectOnePair();
    });
  });

  THREE.forEach((n, i) => {
    it(`§2.25.1: a's rekey request is delayed until b deleted the old SA: TEMPORARY_FAILURE, and a does not retry (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      bothRekey(lab, n);
      const late = lab.hold('b');
      lab.nonceByte.a = n[2];
      lab.deliver('a'); // <-- b's request: a answers (a's own is in flight)
      lab.deliver('b'); // --> a's response: b saw no collision, switches and deletes the old SA
      expect(lab.queue.a.length).toBe(1); // INFORMATIONAL { D }
      lab.deliver('b', late); // --> a's delayed request for an SA b is deleting: TEMPORARY_FAILURE
      lab.deliver('a'); // <-- D: a switches to the SA it answered with
      lab.deliver('a'); // <-- N(TEMPORARY_FAILURE): nothing left to rekey
      lab.flush();
      lab.expectOnePair();
      noRetry(lab, 'a');
    });

    it(`§2.25.1: a's rekey request arrives after the old SA is gone: CHILD_SA_NOT_FOUND ends it (lowest nonce N${i + 1})`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      bothRekey(lab, n);
      const late = lab.hold('b');
      lab.nonceByte.a = n[2];
      lab.deliver('a');
      lab.deliver('b');
      lab.deliver('a'); // <-- D
      lab.deliver('b'); // --> D response: the old SA is gone on b
      lab.deliver('b', late);
      lab.deliver('a'); // <-- N(CHILD_SA_NOT_FOUND)
      lab.flush();
      lab.expectOnePair();
      noRetry(lab, 'a');
      expect(ofType(lab.events('a'), 'failure')).toEqual([]);
    });
  });

  FOUR.forEach((n, i) => {
    it(`§2.8.1 with INVALID_KE_PAYLOAD first on both sides: the retries collide and are settled by their nonces (lowest N${i + 1})`, () => {
      const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519-ecp256'] }, { ...sun, esp: ['aes256gcm16-ecp256-x25519'] });
      lab.establish();
      bothRekey(lab, [n[1], n[0]]); // the first tries' nonces do not matter
      lab.deliver('b'); // --> KE x25519: b wants ecp256
      lab.deliver('a'); // <-- KE ecp256: a wants x25519
      lab.nonceByte.a = n[0];
      lab.deliver('a'); // <-- INVALID_KE: a retries with ecp256
      lab.nonceByte.b = n[1];
      lab.deliver('b'); // --> INVALID_KE: b retries with x25519
      lab.nonceByte.b = n[2];
      const passiveB = installed(lab.deliver('b'))[0];
      lab.nonceByte.a = n[3];
      const passiveA = installed(lab.deliver('a'))[0];
      lab.flush();
      const kept = lab.expectOnePair();
      const aLost = i === 0 || i === 2;
      expect(aLost ? kept.a : kept.b).toBe(aLost ? passiveA : passiveB);
    });
  });

  THREE.forEach((n, i) => {
    it(`§2.8.1/§2.25.1: after INVALID_KE_PAYLOAD both ways, a's retry is delayed; b saw no collision and wins; a's retry gets TEMPORARY_FAILURE (lowest N${i + 1})`, () => {
      const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519-ecp256'] }, { ...sun, esp: ['aes256gcm16-ecp256-x25519'] });
      lab.establish();
      bothRekey(lab, [n[1], n[0]]);
      lab.deliver('b');
      lab.deliver('a');
      lab.nonceByte.a = n[0];
      lab.deliver('a'); // <-- INVALID_KE: a retries ...
      lab.nonceByte.b = n[1];
      lab.deliver('b'); // --> INVALID_KE: b retries
      const late = lab.hold('b'); // ... but a's retry is delayed
      lab.nonceByte.a = n[2];
      lab.deliver('a'); // <-- b's retry: a answers
      lab.deliver('b'); // --> a's answer: b switches and deletes the old SA
      lab.deliver('b', late); // --> a's retry: TEMPORARY_FAILURE
      lab.flush();
      lab.expectOnePair();
      noRetry(lab, 'a');
    });
  });

  it('a retransmitted request during a collision is answered from the cache: no second SA, no SA lost', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    bothRekey(lab, FOUR[1]);
    lab.deliver('b');
    lab.deliver('a'); // a answers b's request ...
    lab.queue.b.length = 0; // ... but its response is lost
    lab.deliver('a'); // <-- b's response: a settles its side of the collision
    const before = lab.children('a').length;
    lab.advance(lab.now + 4000); // b retransmits its request
    expect(lab.queue.a.length).toBe(1);
    const again = lab.deliver('a');
    expect(again.filter((e) => e.type !== 'send')).toEqual([]);
    expect(lab.children('a').length).toBe(before);
    lab.flush();
    lab.expectOnePair();
  });
});

describe('§2.25.1: rekey against delete', () => {
  for (const by of ['a', 'b'] as const) {
    const peer = by === 'a' ? 'b' : 'a';
    it(`§2.25.1: the ${by === 'a' ? 'initiator' : 'responder'} rekeys an SA the peer deletes: TEMPORARY_FAILURE, the Delete is answered as usual, no retry`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyChild(lab.now, lab.child(by).spiIn));
      lab.cmd(peer, (sa) => sa.deleteChild(lab.now, lab.child(peer).spiIn));
      lab.deliver(peer); // --> rekey of an SA being deleted: TEMPORARY_FAILURE
      lab.deliver(by); // <-- D: answered with D, SA removed
      lab.deliver(by); // <-- TEMPORARY_FAILURE: the SA is gone, nothing to retry
      lab.deliver(peer);
      expect(lab.queue.a.length + lab.queue.b.length).toBe(0);
      for (const s of ['a', 'b'] as const) {
        expect(lab.children(s).filter((c) => c.state !== 'DELETED')).toEqual([]);
        expect(lab.dp[s].sas.size).toBe(0);
      }
      expect(lab.disp(by).pollTimeout()! - lab.now).toBeGreaterThan(3600_000); // only the IKE SA's lifetime
    });

    it(`§2.25.1: the Delete is delayed, so the ${by === 'a' ? 'initiator' : 'responder'} schedules a retry; the late Delete still removes the SA`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyChild(lab.now, lab.child(by).spiIn));
      lab.cmd(peer, (sa) => sa.deleteChild(lab.now, lab.child(peer).spiIn));
      lab.deliver(peer);
      const del = lab.hold(by);
      lab.deliver(by); // <-- TEMPORARY_FAILURE while the SA is still there: retry in 2-10 s
      const retry = lab.child(by).rekeyAt! - lab.now;
      expect(retry).toBeGreaterThanOrEqual(2000);
      expect(retry).toBeLessThanOrEqual(10_000);
      lab.deliver(by, del);
      lab.flush();
      lab.advance(lab.now + 10_000);
      expect(lab.queue.a.length + lab.queue.b.length).toBe(0); // no SA left to rekey
      for (const s of ['a', 'b'] as const) expect(lab.dp[s].sas.size).toBe(0);
    });

    it(`§2.25.1: the rekey request is delayed past the Delete: CHILD_SA_NOT_FOUND, nothing left on either side (${by === 'a' ? 'initiator' : 'responder'} rekeys)`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyChild(lab.now, lab.child(by).spiIn));
      lab.cmd(peer, (sa) => sa.deleteChild(lab.now, lab.child(peer).spiIn));
      const late = lab.hold(peer);
      lab.deliver(by); // <-- D
      lab.deliver(peer); // --> D response
      lab.deliver(peer, late); // --> rekey: CHILD_SA_NOT_FOUND
      lab.deliver(by);
      expect(lab.queue.a.length + lab.queue.b.length).toBe(0);
      for (const s of ['a', 'b'] as const) expect(lab.dp[s].sas.size).toBe(0);
      expect(ofType(lab.events(by), 'failure')).toEqual([]);
    });
  }
});

describe('§2.25.2: a Child SA rekey against the IKE SA\'s rekey or delete', () => {
  for (const by of ['a', 'b'] as const) {
    const peer = by === 'a' ? 'b' : 'a';
    it(`§2.25.2: Child rekey (by the ${by === 'a' ? 'initiator' : 'responder'}) and IKE rekey cross: both get TEMPORARY_FAILURE and both retry later, then succeed`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyChild(lab.now, lab.child(by).spiIn));
      lab.cmd(peer, (sa) => sa.rekeyIke(lab.now));
      lab.deliver(peer); // --> Child rekey while the IKE SA is being rekeyed: TEMPORARY_FAILURE
      lab.deliver(by); // <-- IKE rekey while a Child SA is being rekeyed: TEMPORARY_FAILURE
      lab.deliver(by); // <-- TEMPORARY_FAILURE: retry the Child rekey later
      lab.deliver(peer); // --> TEMPORARY_FAILURE: retry the IKE rekey later
      const t1 = lab.child(by).rekeyAt!;
      const t2 = lab.ike(peer).rekeyAt!;
      for (const t of [t1, t2]) expect(t - lab.now).toBeLessThanOrEqual(10_000);
      const oldIke = Buffer.from(lab.ike('a').spiI).toString('hex');
      lab.advance(Math.min(t1, t2));
      lab.flush();
      lab.advance(Math.max(t1, t2));
      lab.flush();
      lab.expectOnePair();
      expect(lab.child('a').rekeys).toBe(1);
      expect(Buffer.from(lab.ike('a').spiI).toString('hex')).not.toBe(oldIke);
      expect(lab.a.list().length).toBe(1);
      expect(lab.b.list().length).toBe(1);
    });

    it(`§2.25.2: Child rekey (by the ${by === 'a' ? 'initiator' : 'responder'}) against a Delete of the IKE SA: TEMPORARY_FAILURE, then everything is gone`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyChild(lab.now, lab.child(by).spiIn));
      lab.cmd(peer, (sa) => sa.delete(lab.now));
      lab.deliver(peer); // TEMPORARY_FAILURE
      lab.deliver(by); // <-- D(IKE): the SA and its Child SA go
      expect(lab.disp(by).list()).toEqual([]);
      lab.deliver(by); // <-- TEMPORARY_FAILURE for an SA that is gone: dropped
      expect(lab.disp(by).stats.unknownSpi).toBe(1);
      lab.deliver(peer);
      expect(lab.disp(peer).list()).toEqual([]);
      for (const s of ['a', 'b'] as const) expect(lab.dp[s].sas.size).toBe(0);
    });
  }
});
