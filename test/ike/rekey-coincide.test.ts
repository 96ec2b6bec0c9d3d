// A Child SA rekey and an IKE SA rekey that fall due together (RFC 7296 §2.8, §2.18): each end
// sends one request at a time, so one of them waits for the other. The interop test
// rekey-load.test.ts rekeys the Child SA every 5 s and the IKE SA every 20 s, so they meet every
// fourth Child rekey. These cases replay the orders seen there, one message at a time.
import { describe, it, expect } from 'vitest';
import type { SideOptions } from './helpers/pair.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 61 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 62 };

/** Run both sides' timers and deliver everything, until `t`. */
function runUntil(lab: Lab, t: number): void {
  for (let n = 0; n < 100; n++) {
    const due = Math.min(lab.a.pollTimeout() ?? Infinity, lab.b.pollTimeout() ?? Infinity);
    if (due > t) break;
    lab.advance(Math.max(due, lab.now));
    lab.flush();
  }
  lab.now = t;
}

describe('a Child SA rekey that falls due with an IKE SA rekey', () => {
  it('our Child rekey, due while our IKE rekey is in flight, runs on the new IKE SA at once: before the Child SA\'s hard lifetime (rekey 5 s, life 6 s)', () => {
    // a drives both rekeys (leg A of rekey-load: tsvpn child.rekey 5s); b keeps strongSwan's 1 h
    const lab = new Lab(moon, sun, (cfg, side) => {
      cfg.children[0].rekeyTime = side === 'a' ? 5 : 3600;
      cfg.rekeyTime = 0;
    });
    lab.establish();
    const first = lab.child('a');
    const expireAt = first.expireAt!;
    expect(expireAt - lab.now).toBe(6000); // life_time: rekey_time x 1.1, whole seconds
    lab.now = first.rekeyAt! - 1;
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now)); // CREATE_CHILD_SA { SA, Ni, KEi } -->
    lab.advance(first.rekeyAt!); // the Child rekey falls due: it waits for the IKE rekey (window 1, §2.3)
    expect(lab.queue.b.length).toBe(1);
    lab.flush(); // the IKE SA is rekeyed; the Child SA moves to the new one (§2.18)
    runUntil(lab, expireAt + 1000);
    // the Child SA was rekeyed on the new IKE SA, not deleted at its hard lifetime (F6)
    expect(ofType(lab.events('a'), 'failure')).toEqual([]);
    expect(ofType(lab.events('a'), 'child-rekeyed').length).toBe(1);
    expect(ofType(lab.events('a'), 'ike-rekeyed').length).toBe(1);
    const pair = lab.expectOnePair();
    expect(pair.a).not.toBe(first.spiIn);
    expect(lab.a.list().length).toBe(1);
  });

  it('strongSwan\'s order when its Child rekey waited for its IKE rekey: the Child rekey on the new IKE SA (Message ID 0) comes before the Delete of the old one; the responder rekeys on the new SA', () => {
    // charon, leg B: "migrating CHILD_REKEY task", then "generating CREATE_CHILD_SA request 0 [ N(REKEY_SA) SA No TSi TSr ]"
    // on the new IKE SA before "generating INFORMATIONAL request 5 [ D ]" on the old one
    const lab = new Lab(moon, sun);
    lab.establish();
    const old = lab.ike('b');
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.deliver('b'); // CREATE_CHILD_SA { SA, Ni, KEi } -->
    lab.deliver('a'); // <-- CREATE_CHILD_SA { SA, Nr, KEr }; a's Delete of the old IKE SA waits for b
    const del = lab.hold('b');
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn)); // on the new IKE SA
    lab.deliver('b'); // CREATE_CHILD_SA { N(REKEY_SA), SA, Ni, TSi, TSr } --> on the new IKE SA
    lab.deliver('b', del); // INFORMATIONAL { D } --> on the old IKE SA
    lab.flush();
    for (const s of ['a', 'b'] as const) {
      expect(ofType(lab.events(s), 'failure')).toEqual([]);
      expect(ofType(lab.events(s), 'child-rekeyed').length).toBe(1);
      expect(lab.disp(s).list().length).toBe(1);
    }
    expect(old.state).toBe('DELETED');
    lab.expectOnePair();
  });

  it('the peer never rekeys and lets the Child SA expire after an IKE rekey: the responder answers its Delete, reports the Child SA deleted by the peer, and no failure of its own', () => {
    // leg B's failure: strongSwan's Child rekey job looked for the Child SA while the IKE rekey
    // response moved it ("CHILD_SA ESP/0x... not found for rekey"), so nothing rekeyed it and
    // charon deleted it at life_time. a plays charon: no Child rekey, hard lifetime 10 s.
    const lab = new Lab(moon, sun, (cfg, side) => {
      if (side === 'a') Object.assign(cfg.children[0], { rekeyTime: 0, lifeTime: 10 });
    });
    lab.establish();
    const before = { a: lab.child('a'), b: lab.child('b') };
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.flush();
    const ike = lab.ike('b');
    expect(ike.rekeys).toBe(1);
    const mark = lab.events('b').length;
    runUntil(lab, before.a.expireAt! + 1000);
    // b: the Child SA is gone, the peer deleted it; the IKE SA stays, and b reports no failure
    expect(ofType(lab.events('b', mark), 'child-deleted')).toEqual([{ type: 'child-deleted', name: before.b.name, spiIn: expect.any(String), spiOut: expect.any(String), reason: 'peer' }]);
    expect(ofType(lab.events('b'), 'failure')).toEqual([]);
    expect(ike.state).toBe('ESTABLISHED');
    expect(ike.children).toEqual([]);
    expect(lab.dp.b.sas.size).toBe(0);
    expect(lab.dp.b.policy).toBeUndefined();
    // a (charon's part) deleted it at its hard lifetime and got b's half back in the response (§1.4.1)
    expect(ofType(lab.events('a'), 'failure').map((f) => f.row)).toEqual(['F6']);
    expect(lab.dp.a.sas.size).toBe(0);
  });
});
