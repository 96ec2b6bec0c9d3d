// Rekey collisions in which strongSwan users reported losing a Child SA's outbound direction or
// the whole tunnel (issues cited per test), replayed one message at a time against tsvpn on
// both ends. Each must end with one working pair of SAs and the policy on it.
import { describe, it, expect } from 'vitest';
import { cidr, type SideOptions } from './helpers/pair.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 61 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 62 };

describe('rekey collisions that lost SAs in the field', () => {
  it('strongSwan #1896: our rekey is retransmitted and refused with TEMPORARY_FAILURE after we answered the peer\'s; the peer\'s Delete still moves outbound to the SA we answered with', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
    const first = lab.hold('b'); // a's request is slow
    lab.cmd('b', (sa) => sa.rekeyChild(lab.now, lab.child('b').spiIn));
    lab.deliver('a'); // <-- b's rekey: a answers, its old SA is REKEYED (§2.8.1)
    lab.deliver('b'); // --> a's answer: b saw no collision, switches and deletes the old SA
    const del = lab.hold('a');
    lab.advance(lab.now + 4000); // a retransmits its rekey request (RFC 7296 §2.1), b its Delete
    lab.hold('a'); // (b's retransmitted Delete is lost too)
    lab.deliver('b'); // --> retransmit: the old SA is being deleted on b: TEMPORARY_FAILURE
    void first;
    lab.deliver('a'); // <-- TEMPORARY_FAILURE before the Delete: a abandons its own rekey ...
    expect(lab.children('a').filter((c) => c.state === 'REKEYED').length).toBe(1);
    const fx = lab.deliver('a', del); // <-- D(old): ... and now sends on the SA it answered with
    expect(fx.some((e) => e.type === 'switch-outbound')).toBe(true);
    lab.flush();
    lab.expectOnePair();
    expect(ofType(lab.events('a'), 'failure')).toEqual([]);
  });

  it('strongSwan #2477: our rekey is refused with TS_UNACCEPTABLE while the peer\'s rekey of the same SA succeeds: the outbound SA is still switched', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.bCfg.children[0].remoteTs = [cidr('10.99.0.0/16')]; // b now refuses a's selectors, a accepts b's
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
    lab.cmd('b', (sa) => sa.rekeyChild(lab.now, lab.child('b').spiIn));
    lab.deliver('b'); // --> a's rekey: TS_UNACCEPTABLE
    lab.deliver('a'); // <-- b's rekey: a answers
    lab.deliver('a'); // <-- TS_UNACCEPTABLE: the SA a wanted to rekey is already REKEYED by b, no F6
    lab.flush(); // b gets a's answer, switches and deletes the old SA; a switches on that Delete
    lab.expectOnePair();
    expect(ofType(lab.events('a'), 'failure')).toEqual([]);
    expect(lab.child('a').rekeys).toBe(1);
  });

  it('strongSwan #1458: the peer deletes the old SA itself and its Delete overtakes its CREATE_CHILD_SA response: the new SA is kept and takes the policy', () => {
    const lab = new Lab(moon, sun, (cfg, side) => {
      if (side === 'b') {
        cfg.children[0].rekeyTime = 0;
        cfg.children[0].lifeTime = 200; // b deletes a replaced SA itself when it expires
      }
    });
    lab.establish();
    lab.now += 150_000;
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
    const oldB = lab.child('b').spiIn;
    lab.deliver('b'); // --> rekey: b answers
    const resp = lab.hold('a');
    lab.checking = false; // b switches before a has its answer: that peer's choice, not ours
    lab.now = lab.child('b', oldB)!.expireAt!;
    lab.record('b', lab.b.handleTimeout(lab.now)); // b switches and sends D(old)
    lab.deliver('a'); // <-- D(old) first: answered as usual (RFC 7296 §2.25.1), policy and SA removed
    expect(lab.dp.a.policy).toBeUndefined();
    const fx = lab.deliver('a', resp); // <-- the CREATE_CHILD_SA response
    expect(fx.some((e) => e.type === 'install-policy')).toBe(true);
    lab.checking = true;
    lab.flush();
    lab.expectOnePair();
    expect(ofType(lab.events('a'), 'child-rekeyed').length).toBe(1);
  });
});
