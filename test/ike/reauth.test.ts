// Reauthentication (RFC 7296 §2.8.3), make-before-break as strongSwan's make_before_break:
// the IKE SA says when (`reauth-due`), the daemon authenticates a new IKE SA with its Child SA
// while the old one carries the traffic, then deletes the old one. One message at a time, with
// the model datapath checking at every step that each side sends only on an SA the other has.
import { describe, expect, it } from 'vitest';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import type { SideOptions } from './helpers/pair.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 51 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 52 };
const spis = (sa: IkeSa) => `${Buffer.from(sa.spiI).toString('hex')}/${Buffer.from(sa.spiR).toString('hex')}`;

describe('reauthentication (RFC 7296 §2.8.3)', () => {
  it('reauth_time: the IKE SA asks once, between 90% and 100% of reauth_time after it was established', () => {
    const lab = new Lab(moon, sun, (cfg, side) => (cfg.reauthTime = side === 'a' ? 100 : 0));
    lab.establish();
    const t0 = lab.now;
    const due = lab.ike('a').reauthDue!;
    expect(due).toBeGreaterThanOrEqual(t0 + 90_000);
    expect(due).toBeLessThanOrEqual(t0 + 100_000);
    expect(lab.ike('b').reauthDue).toBeUndefined(); // off unless configured
    expect(lab.a.pollTimeout()).toBeLessThanOrEqual(due);
    const mark = lab.fx.a.length;
    lab.advance(due);
    const sa = lab.ike('a');
    expect(ofType(lab.events('a', mark), 'reauth-due')).toEqual([{ type: 'reauth-due', spiI: Buffer.from(sa.spiI).toString('hex'), spiR: Buffer.from(sa.spiR).toString('hex') }]);
    expect(sa.reauthDue).toBeUndefined();
    lab.advance(due + 200_000);
    expect(ofType(lab.events('a', mark), 'reauth-due')).toHaveLength(1); // once
    expect(sa.state).toBe('ESTABLISHED'); // the IKE SA itself does not go anywhere: the daemon acts
  });

  it('an IKE SA rekey keeps the deadline: rekeying is not reauthentication (§2.8.3)', () => {
    const lab = new Lab(moon, sun, (cfg) => (cfg.reauthTime = 3600));
    lab.establish();
    const old = lab.ike('a');
    const due = old.reauthDue;
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.flush();
    expect(lab.ike('a')).not.toBe(old);
    expect(lab.ike('a').reauthDue).toBe(due);
  });

  it('make-before-break: the new IKE SA and Child SA come up beside the old; the peer keeps sending on the old SA until the old IKE SA is deleted', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const old = { a: lab.ike('a'), b: lab.ike('b') };
    const oldChild = { a: lab.child('a').spiIn, b: lab.child('b').spiIn };
    const mark = lab.fx.b.length;

    // the daemon's reauth: a new IKE SA to the same peer, without INITIAL_CONTACT
    lab.record('a', lab.a.initiate(lab.now, { ...lab.aCfg, initialContact: false }).effects);
    lab.flush(); // IKE_SA_INIT, IKE_AUTH; checkPaths ran after every message
    const fresh = { a: lab.a.list().find((s) => s !== old.a)!, b: lab.b.list().find((s) => s !== old.b)! };
    expect([fresh.a.state, fresh.b.state, old.a.state, old.b.state]).toEqual(['ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED']);
    expect(spis(fresh.a)).toBe(spis(fresh.b));
    expect(ofType(lab.events('b', mark), 'ike-established')[0].initialContact).toBe(false);
    const newChild = { a: fresh.a.children[0].spiIn, b: fresh.b.children[0].spiIn };
    // a made the new Child SA: it sends on it at once; b waits behind its old SA (a may not have the new one yet)
    expect(lab.dp.a.entries).toEqual([newChild.a, oldChild.a]);
    expect(lab.dp.b.entries).toEqual([oldChild.b, newChild.b]);

    // the old IKE SA is deleted, and its Child SA with it (RFC 7296 §1.4.1)
    lab.cmd('a', (sa) => sa.delete(lab.now), old.a);
    lab.flush();
    expect([old.a.state, old.b.state]).toEqual(['DELETED', 'DELETED']);
    expect(lab.dp.a.entries).toEqual([newChild.a]);
    expect(lab.dp.b.entries).toEqual([newChild.b]);
    expect(lab.expectOnePair()).toEqual(newChild);
    expect(lab.a.list()).toEqual([fresh.a]);
  });

  it('a restarted peer that sends INITIAL_CONTACT (§2.4) gets the traffic at once: the old SA is dead', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const old = lab.ike('b');
    const oldChild = lab.child('b').spiIn;
    lab.cmd('a', (s) => s.forget()); // the peer restarts
    const mark = lab.fx.b.length;
    lab.record('a', lab.a.initiate(lab.now, { ...lab.aCfg, initialContact: true }).effects);
    lab.flush();
    const fresh = lab.b.list().find((s) => s !== old)!;
    expect(ofType(lab.events('b', mark), 'ike-established')[0].initialContact).toBe(true);
    expect(lab.dp.b.entries).toEqual([fresh.children[0].spiIn, oldChild]);
  });
});
