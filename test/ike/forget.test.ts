// IkeSa.forget() (RFC 7296 §2.4 INITIAL_CONTACT), step by step: the peer restarted and has no
// state for our IKE SA, so the daemon drops it and its Child SAs at once, without a Delete that
// would only be retransmitted into the void. What an operator relies on: every Child SA's SAs and
// policies are removed, nothing is sent then or later (also when an exchange was outstanding),
// the keys are zeroed, and the dispatcher forgets the SA so the peer's new IKE_SA_INIT starts a
// fresh one. The peers run on the rekey harness (one message at a time, model datapaths).
import { describe, it, expect } from 'vitest';
import type { Effect } from '../../src/ike/effects.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import { createKeyExchange } from '../../src/crypto/ke/index.js';
import { sends, type SideOptions } from './helpers/pair.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 31 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 32 };

/** Past the whole retransmit schedule (DEFAULT_RETRANSMIT: 4 s x 1.8^n, 5 tries, about 166 s). */
const PAST_RETRANSMITS_MS = 10 * 60_000;

/** The IKE SA's key material as the SA holds it (private; what disposeKeys zeroes). */
const keysOf = (sa: IkeSa) => (sa as unknown as { ctx: { keys?: { skD: Uint8Array; skPi: Uint8Array; skPr: Uint8Array } } }).ctx;

/** A key exchange factory that counts the private keys made and not yet disposed. */
function countedKeyExchanges() {
  const live = new Set<object>();
  const make = (group: number) => {
    const ke = createKeyExchange(group);
    live.add(ke);
    const dispose = ke.dispose.bind(ke);
    ke.dispose = () => { live.delete(ke); dispose(); };
    return ke;
  };
  return { make, live };
}

const removedSas = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'remove-sa' ? [e.spiIn] : []));
const removedPolicies = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'remove-policy' ? [e.policy.spiIn] : []));
const spiKey = (sa: IkeSa) => Buffer.from(sa.localSpi).toString('hex');

/** Run every timer of `sa` up to `until` (as the daemon's timer loop would) and collect the effects. */
function runTimers(sa: IkeSa, from: number, until: number): Effect[] {
  const out: Effect[] = [];
  let now = from;
  for (let n = 0; n < 100; n++) {
    const due = sa.pollTimeout();
    if (due === undefined || due > until) break;
    now = Math.max(now, due);
    out.push(...sa.handleTimeout(now));
  }
  out.push(...sa.handleTimeout(until));
  return out;
}

describe('IkeSa.forget(): the peer restarted (RFC 7296 §2.4 INITIAL_CONTACT)', () => {
  it('RFC 7296 §2.4 INITIAL_CONTACT: forget() removes every Child SA (inbound and outbound SAs, policy) and sends no Delete', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('b');
    const child = lab.child('b');
    const { spiIn, spiOut } = child;
    expect(lab.dp.b.sas.has(spiIn)).toBe(true);

    const fx = lab.cmd('b', (s) => s.forget());
    expect(sends(fx)).toEqual([]); // no Delete: nobody would answer it
    expect(lab.queue.a).toEqual([]);
    expect(removedPolicies(fx)).toEqual([spiIn]);
    const rm = fx.filter((e): e is Extract<Effect, { type: 'remove-sa' }> => e.type === 'remove-sa');
    expect(rm.map((e) => [e.spiIn, e.spiOut])).toEqual([[spiIn, spiOut]]); // both halves: in by spiIn, out by spiOut
    // the policy goes before (or with) the SA it sends on
    expect(fx.findIndex((e) => e.type === 'remove-policy')).toBeLessThan(fx.findIndex((e) => e.type === 'remove-sa'));
    expect(lab.dp.b.sas.size).toBe(0);
    expect(lab.dp.b.policy).toBeUndefined();

    const ev = lab.events('b').slice(-10);
    expect(ofType(ev, 'ike-deleted')).toEqual([{ type: 'ike-deleted', reason: 'peer' }]);
    expect(ofType(ev, 'child-deleted').map((e) => e.reason)).toEqual(['ike-deleted']);
    expect(ofType(ev, 'ike-state').at(-1)).toEqual({ type: 'ike-state', from: 'ESTABLISHED', to: 'DELETED' });
    expect(sa.state).toBe('DELETED');
    expect(sa.children).toEqual([]);
    expect(sa.pollTimeout()).toBeUndefined();
    // a second forget() (or one on an SA already over) does nothing
    expect(sa.forget()).toEqual([]);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: after forget() nothing is ever sent, not even when the clock passes the retransmit schedule', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('a');
    lab.cmd('a', (s) => s.forget());
    expect(sa.pollTimeout()).toBeUndefined();
    expect(lab.a.pollTimeout()).toBeUndefined();
    const later = runTimers(sa, lab.now, lab.now + PAST_RETRANSMITS_MS);
    expect(sends(later)).toEqual([]);
    expect(later).toEqual([]);
    expect(lab.a.handleTimeout(lab.now + PAST_RETRANSMITS_MS)).toEqual([]);
    expect(sa.stats.retransmitsSent).toBe(0);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: forget() zeroes the IKE SA keys (SK_d, SK_pi, SK_pr) and drops them', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('b');
    const keys = keysOf(sa).keys!;
    expect(keys).toBeDefined();
    const held = [keys.skD, keys.skPi, keys.skPr];
    for (const k of held) expect(k.some((b) => b !== 0)).toBe(true);
    lab.cmd('b', (s) => s.forget());
    for (const k of held) expect(k.every((b) => b === 0)).toBe(true);
    expect(keysOf(sa).keys).toBeUndefined();
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: the dispatcher reaps the forgotten SA after the command; a message for its SPI is unknown', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('b');
    const before = lab.b.stats.unknownSpi;

    // the command alone ends the SA; the dispatcher sees it when told (the daemon's command() calls adopt)
    const fx = sa.forget();
    lab.record('b', fx);
    expect(sa.state).toBe('DELETED');
    lab.b.adopt(sa);
    expect(lab.b.list()).not.toContain(sa);
    expect(lab.b.list().map(spiKey)).not.toContain(spiKey(sa));
    expect(lab.b.pollTimeout()).toBeUndefined();

    // the other end still has the old SA (in a real restart it would not): its request finds nothing
    lab.cmd('a', (s) => s.liveness(lab.now));
    expect(lab.deliver('b')).toEqual([]);
    expect(lab.b.stats.unknownSpi).toBe(before + 1);
    expect(lab.queue.a).toEqual([]);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: the dispatcher keeps an SA a command did not end (adopt reaps only finished SAs)', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('b');
    lab.cmd('b', (s) => s.liveness(lab.now));
    expect(lab.b.list()).toEqual([sa]);
    lab.flush();
    expect(sa.state).toBe('ESTABLISHED');
    expect(lab.b.list()).toEqual([sa]);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: after forget(), a new IKE_SA_INIT from the same peer is handled as a fresh IKE SA', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const old = lab.ike('b');
    const oldChild = lab.child('b').spiIn;
    lab.cmd('a', (s) => s.forget()); // the peer restarts: its state is gone
    lab.cmd('b', (s) => s.forget());
    expect(lab.b.list()).toEqual([]);

    // the peer (same address, same identity) starts over
    const unknown = lab.b.stats.unknownSpi;
    lab.record('a', lab.a.initiate(lab.now, lab.aCfg).effects);
    lab.flush();
    const fresh = lab.b.list();
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).not.toBe(old);
    expect(fresh[0].state).toBe('ESTABLISHED');
    expect(fresh[0].role).toBe('responder');
    expect(fresh[0].remoteId).toBe(old.remoteId);
    expect(spiKey(fresh[0])).not.toBe(spiKey(old));
    expect(lab.b.stats.unknownSpi).toBe(unknown);
    const c = lab.child('b');
    expect(c.spiIn).not.toBe(oldChild);
    expect(lab.dp.b.policy).toBe(c.spiIn);
    expect([...lab.dp.b.sas.keys()]).toEqual([c.spiIn]);
    expect(old.state).toBe('DELETED'); // not brought back
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: forgetting the old IKE SA once the peer\'s fresh one is up leaves the fresh SA and its Child SA alone', () => {
    // the daemon's order (retireOlder): the new IKE SA from the restarted peer is established
    // first, then the older SA with the same peer identity is forgotten
    const lab = new Lab(moon, sun);
    lab.establish();
    const old = lab.ike('b');
    const oldChild = lab.child('b');
    const oldIds = { spiIn: oldChild.spiIn, spiOut: oldChild.spiOut };
    lab.cmd('a', (s) => s.forget()); // the peer restarts: its state is gone
    lab.aCfg.initialContact = true; // ... and says so, as tsvpn (start: initiate) and strongSwan do
    lab.record('a', lab.a.initiate(lab.now, lab.aCfg).effects);
    lab.flush();
    const fresh = lab.b.list().find((s) => s !== old)!;
    expect(fresh.state).toBe('ESTABLISHED');
    const freshChild = fresh.children[0];
    expect(freshChild.state).toBe('INSTALLED');

    // applied directly: the model datapath holds one policy, and the fresh SA has taken it
    const fx = old.forget();
    lab.b.adopt(old);
    expect(sends(fx)).toEqual([]);
    expect(removedSas(fx)).toEqual([oldIds.spiIn]);
    expect(removedPolicies(fx)).toEqual([oldIds.spiIn]);
    expect(fx.some((e) => e.type === 'remove-sa' && (e.spiIn === freshChild.spiIn || e.spiOut === freshChild.spiOut))).toBe(false);
    expect(lab.b.list()).toEqual([fresh]);
    expect(fresh.state).toBe('ESTABLISHED');
    expect(fresh.children.map((c) => [c.spiIn, c.state])).toEqual([[freshChild.spiIn, 'INSTALLED']]);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: forget() while our Child SA rekey is in flight sends nothing more, and the late answer installs nothing', () => {
    const kex = countedKeyExchanges();
    const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519'] }, { ...sun, esp: ['aes256gcm16-x25519'] }, (cfg, side) => {
      if (side === 'b') cfg.keyExchange = kex.make;
    });
    lab.establish();
    const sa = lab.ike('b');
    const spiIn = lab.child('b').spiIn;
    expect(kex.live.size).toBe(0); // IKE_SA_INIT's private key is gone once SK_* are derived
    const req = lab.cmd('b', (s) => s.rekeyChild(lab.now, spiIn));
    expect(sends(req)).toHaveLength(1);
    expect(sa.pollTimeout()).toBeDefined(); // the request's retransmit timer
    expect(kex.live.size).toBe(1); // with our KE (PFS) private key

    const fx = lab.cmd('b', (s) => s.forget());
    expect(sends(fx)).toEqual([]);
    expect(removedSas(fx)).toEqual([spiIn]);
    expect(removedPolicies(fx)).toEqual([spiIn]);
    expect(sa.state).toBe('DELETED');
    expect(sa.pollTimeout()).toBeUndefined(); // the retransmit timer is gone
    expect(kex.live.size).toBe(0); // and the rekey's DH private key with it
    expect(lab.queue.a).toHaveLength(1); // only the request sent before forget()

    const later = runTimers(sa, lab.now, lab.now + PAST_RETRANSMITS_MS);
    expect(sends(later)).toEqual([]);
    expect(sa.stats.retransmitsSent).toBe(0);
    const mark = lab.fx.b.length;
    lab.advance(lab.now + PAST_RETRANSMITS_MS); // and the dispatcher's timers
    expect(sends(lab.fx.b.slice(mark))).toEqual([]);

    // the peer answers the request after all: we no longer know the SA, nothing is installed
    lab.deliver('a');
    expect(lab.queue.b).toHaveLength(1);
    const unknown = lab.b.stats.unknownSpi;
    expect(lab.deliver('b')).toEqual([]);
    expect(lab.b.stats.unknownSpi).toBe(unknown + 1);
    expect(lab.dp.b.sas.size).toBe(0);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: forget() mid-rekey removes both the old and the new Child SA, the policy once, and never sends the pending Delete again', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('b');
    const oldIn = lab.child('b').spiIn;
    lab.cmd('b', (s) => s.rekeyChild(lab.now, oldIn));
    lab.deliver('a'); // CREATE_CHILD_SA request
    lab.deliver('b'); // its response: new SA installed, policy switched, Delete of the old SA sent
    expect(lab.queue.a).toHaveLength(1);
    const newIn = sa.children.find((c) => c.spiIn !== oldIn)!.spiIn;
    expect(sa.children.map((c) => c.spiIn).sort()).toEqual([oldIn, newIn].sort());
    expect(lab.dp.b.policy).toBe(newIn);

    const fx = lab.cmd('b', (s) => s.forget());
    expect(sends(fx)).toEqual([]);
    expect(removedSas(fx).sort()).toEqual([oldIn, newIn].sort());
    expect(removedPolicies(fx)).toEqual([newIn]); // the old SA gave its policy away at the switch
    expect(lab.dp.b.sas.size).toBe(0);
    expect(lab.dp.b.policy).toBeUndefined();
    expect(sa.pollTimeout()).toBeUndefined();
    const later = runTimers(sa, lab.now, lab.now + PAST_RETRANSMITS_MS);
    expect(sends(later)).toEqual([]);
  });

  it('RFC 7296 §2.4 INITIAL_CONTACT: forget() of an SA whose Delete is outstanding stops the Delete\'s retransmissions', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const sa = lab.ike('b');
    const del = lab.cmd('b', (s) => s.delete(lab.now));
    expect(sends(del)).toHaveLength(1);
    expect(sa.state).toBe('DELETING');
    const fx = lab.cmd('b', (s) => s.forget());
    expect(sends(fx)).toEqual([]);
    expect(sa.state).toBe('DELETED');
    expect(ofType(lab.events('b'), 'ike-deleted')).toEqual([{ type: 'ike-deleted', reason: 'peer' }]);
    expect(sa.pollTimeout()).toBeUndefined();
    expect(lab.b.list()).toEqual([]);
    const later = runTimers(sa, lab.now, lab.now + PAST_RETRANSMITS_MS);
    expect(sends(later)).toEqual([]);
    expect(sa.stats.retransmitsSent).toBe(0);
  });

  it('RFC 7296 §2.4: forget() leaves an SA still being set up to its own timers (only established SAs are forgotten)', () => {
    const lab = new Lab(moon, sun);
    const { sa, effects } = lab.a.initiate(lab.now, lab.aCfg);
    expect(sa.state).toBe('CONNECTING');
    expect(sa.forget()).toEqual([]);
    expect(sa.state).toBe('CONNECTING');
    expect(sa.pollTimeout()).toBeDefined(); // the IKE_SA_INIT retransmits go on
    expect(sends(effects)).toHaveLength(1);
  });
});
