// Child SA rekeying with CREATE_CHILD_SA (RFC 7296 §1.3.3, §2.8, §2.17), step by step, covering
// the ground of strongSwan's child rekey "regular" cases: each role, with and without PFS,
// INVALID_KE_PAYLOAD, the responder's soft and hard expiry while it waits for the Delete, and
// failure-map row F6 when the peer refuses.
import { describe, it, expect } from 'vitest';
import { prfPlus } from '../../src/crypto/prf.js';
import { parseProposal } from '../../src/crypto/proposal.js';
import type { SideOptions } from './helpers/pair.js';
import { Lab, ofType, type Side } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 11 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 12 };
const other = (s: Side): Side => (s === 'a' ? 'b' : 'a');

/** One full rekey started by `by`, one message at a time, with the checks strongSwan's test_regular makes. */
function regular(lab: Lab, by: Side, count = 1) {
  const peer = other(by);
  const mark = { a: lab.fx.a.length, b: lab.fx.b.length };
  const old = { [by]: lab.child(by).spiIn, [peer]: lab.child(peer).spiIn } as Record<Side, number>;
  const req = lab.cmd(by, (sa) => sa.rekeyChild(lab.now, old[by]));
  expect(req.filter((e) => e.type === 'send').length).toBe(1);
  expect(lab.ike(by).awaitingChildSa).toBe(true); // ESP on the new SPI may beat the response (src/ipsec/spi-hold.ts)
  expect(lab.ike(peer).awaitingChildSa).toBe(false);

  // CREATE_CHILD_SA { N(REKEY_SA), SA, Ni, [KEi], TSi, TSr } -->
  const r1 = lab.deliver(peer);
  const inst = r1.find((e) => e.type === 'install-sa');
  expect(inst?.type === 'install-sa' && inst.rekeys).toEqual({ spiIn: old[peer], spiOut: old[by] });
  expect(r1.some((e) => e.type === 'switch-outbound')).toBe(false); // the responder keeps sending on the old SA
  expect(lab.child(peer, old[peer])?.state).toBe('REKEYED');
  expect(lab.dp[peer].policy).toBe(old[peer]);

  // <-- CREATE_CHILD_SA { SA, Nr, [KEr], TSi, TSr }
  const r2 = lab.deliver(by);
  expect(lab.ike(by).awaitingChildSa).toBe(false);
  const types = r2.map((e) => e.type);
  expect(types.indexOf('install-sa')).toBeLessThan(types.indexOf('switch-outbound')); // inbound first, then outbound
  expect(lab.child(by, old[by])?.state).toBe('DELETING');
  expect(lab.dp[by].sas.has(old[by])).toBe(true); // the old inbound SA still accepts
  const fresh = lab.child(by).spiIn;
  expect(fresh).not.toBe(old[by]);

  // INFORMATIONAL { D } -->   (the responder switches, then removes the old SA)
  const r3 = lab.deliver(peer);
  expect(r3.map((e) => e.type).filter((t) => t !== 'event' && t !== 'send')).toEqual(['switch-outbound', 'remove-sa']);
  // <-- INFORMATIONAL { D }
  const r4 = lab.deliver(by);
  expect(r4.filter((e) => e.type === 'remove-sa').map((e) => e.type === 'remove-sa' && e.spiIn)).toEqual([old[by]]);
  expect(r4.some((e) => e.type === 'remove-policy')).toBe(false);
  const now = lab.expectOnePair();
  expect(now[by]).toBe(fresh);
  for (const s of ['a', 'b'] as const) {
    const ev = ofType(lab.events(s, mark[s]), 'child-rekeyed');
    expect(ev.length).toBe(1);
    expect(ev[0]).toMatchObject({ name: 'net', oldSpiIn: old[s].toString(16).padStart(8, '0'), newSpiIn: now[s].toString(16).padStart(8, '0') });
    expect(lab.child(s).rekeys).toBe(count);
    expect(ofType(lab.events(s), 'failure')).toEqual([]);
  }
  return ofType(lab.events(by, mark[by]), 'child-rekeyed')[0];
}

describe('Child SA rekey (RFC 7296 §1.3.3), one message at a time', () => {
  for (const by of ['a', 'b'] as const) {
    it(`§1.3.3: the original ${by === 'a' ? 'initiator' : 'responder'} rekeys without PFS; new inbound SA before the outbound switch, old SA removed after its Delete`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      const ev = regular(lab, by);
      expect(ev.pfsGroup).toBeNull();
    });

    it(`§1.3.3/§2.17: the original ${by === 'a' ? 'initiator' : 'responder'} rekeys with PFS (KE in CREATE_CHILD_SA), both ends derive the same keys`, () => {
      const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519'] }, { ...sun, esp: ['aes256gcm16-x25519'] });
      lab.establish();
      const ev = regular(lab, by);
      expect(ev.pfsGroup).toBe('CURVE25519');
      regular(lab, other(by), 2); // and again from the other end, on the rekeyed SA
    });
  }

  it('§2.17: KEYMAT = prf+(SK_d, Ni | Nr) with the CREATE_CHILD_SA initiator\'s keys first, also when the original responder rekeys', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.cmd('b', (sa) => sa.rekeyChild(lab.now, lab.child('b').spiIn));
    const ni = lab.nonces.b.at(-1)!;
    lab.deliver('a');
    const nr = lab.nonces.a.at(-1)!;
    lab.flush();
    // white box: SK_d is the one input the wire does not show
    const { skD, prfId } = (lab.ike('b') as unknown as { ctx: { keys: { skD: Uint8Array; prfId: number } } }).ctx.keys;
    const keymat = prfPlus(prfId, skD, Uint8Array.from([...ni, ...nr]), 2 * 36); // AES-256-GCM: 32-byte key + 4-byte salt each way
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const pair = lab.expectOnePair();
    expect(lab.dp.b.sas.get(pair.b)!.keyOut).toBe(hex(keymat.subarray(0, 36))); // b sent the request: b -> a first
    expect(lab.dp.a.sas.get(pair.a)!.keyIn).toBe(hex(keymat.subarray(0, 36)));
    expect(lab.dp.a.sas.get(pair.a)!.keyOut).toBe(hex(keymat.subarray(36, 72)));
  });

  it('§1.3.3/§1.2: INVALID_KE_PAYLOAD names the responder\'s group; the rekey is retried with it and succeeds', () => {
    const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519-ecp256'] }, { ...sun, esp: ['aes256gcm16-ecp256-x25519'] });
    lab.establish();
    const old = lab.child('a').spiIn;
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, old));
    const r1 = lab.deliver('b'); // --> KEi x25519, the responder prefers ecp256
    expect(r1.some((e) => e.type === 'install-sa')).toBe(false);
    expect(lab.child('b').state).toBe('INSTALLED');
    const r2 = lab.deliver('a'); // <-- N(INVALID_KE_PAYLOAD)
    expect(ofType(lab.events('a'), 'invalid-ke')).toEqual([{ type: 'invalid-ke', requested: 19 }]);
    expect(r2.filter((e) => e.type === 'send').length).toBe(1); // the retry, right away
    lab.flush();
    lab.expectOnePair();
    expect(ofType(lab.events('a'), 'child-rekeyed')[0].pfsGroup).toBe('ECP_256');
  });

  it('F6: a rekey refused with NO_PROPOSAL_CHOSEN (the peer changed its PFS group) names the group and SPIs; the old SA stays in use', () => {
    const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519'] }, { ...sun, esp: ['aes256gcm16-ecp256'] });
    lab.establish(); // IKE_AUTH carries no KE: the first Child SA is made without the group
    const old = lab.child('a');
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, old.spiIn));
    lab.flush();
    const [f] = ofType(lab.events('a'), 'failure');
    expect(f).toMatchObject({ row: 'F6', evidence: { scope: 'child', child: 'net', result: 'refused', notify: 'NO_PROPOSAL_CHOSEN', pfsGroup: 'CURVE25519' } });
    expect(f.row === 'F6' && f.evidence.oldSpis).toEqual([old.spiIn.toString(16).padStart(8, '0'), old.spiOut.toString(16).padStart(8, '0')]);
    expect(f.row === 'F6' && f.evidence.lifetimes.expiresInS).toBeGreaterThan(3600);
    expect(ofType(lab.events('b'), 'failure')[0]).toMatchObject({ row: 'F6', evidence: { result: 'refused', notify: 'NO_PROPOSAL_CHOSEN' } });
    expect(lab.expectOnePair().a).toBe(old.spiIn);
  });

  it('F6 is not the end: a refused Child SA rekey is tried again within 10 s, and succeeds once the peer accepts (strongSwan child_rekey retries too)', () => {
    const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519'] }, { ...sun, esp: ['aes256gcm16-ecp256'] });
    lab.establish();
    const old = lab.child('a');
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, old.spiIn));
    lab.flush();
    expect(ofType(lab.events('a'), 'failure')).toHaveLength(1);
    expect(ofType(lab.events('a'), 'failure')[0].message).toMatch(/tried again in 2-10 s/);
    const retryAt = lab.a.pollTimeout()!;
    expect(retryAt - lab.now).toBeGreaterThanOrEqual(2000);
    expect(retryAt - lab.now).toBeLessThanOrEqual(10_000);
    lab.bCfg.children[0].espProposals = [parseProposal('aes256gcm16-x25519', 'esp')]; // the operator fixed the peer
    const mark = lab.fx.a.length; // events(side, from) counts effects
    lab.advance(retryAt);
    lab.flush();
    const [done] = ofType(lab.events('a', mark), 'child-rekeyed');
    expect(done).toMatchObject({ name: 'net', pfsGroup: 'CURVE25519' });
    expect(done.oldSpiIn).toBe(old.spiIn.toString(16).padStart(8, '0'));
    expect(ofType(lab.events('a', mark), 'failure')).toEqual([]);
    expect(lab.expectOnePair().a).not.toBe(old.spiIn);
  });

  it('a refused Child SA rekey keeps being retried until the hard lifetime, then the SA is deleted (F6 expired)', () => {
    const lab = new Lab({ ...moon, esp: ['aes256gcm16-x25519'] }, { ...sun, esp: ['aes256gcm16-ecp256'] });
    lab.aCfg.children[0].rekeyTime = 30;
    lab.aCfg.children[0].lifeTime = 60;
    lab.aCfg.children[0].randTime = 0;
    lab.establish();
    const first = lab.child('a').spiIn;
    const start = lab.now;
    for (let guard = 0; guard < 40 && lab.now < start + 61_000; guard++) {
      const t = lab.a.pollTimeout();
      if (t === undefined) break;
      lab.advance(Math.max(t, lab.now));
      lab.flush();
    }
    const fails = ofType(lab.events('a'), 'failure');
    const refused = fails.filter((f) => f.row === 'F6' && f.evidence.result === 'refused');
    expect(refused.length).toBeGreaterThanOrEqual(3); // at 30 s, then every 2-10 s until 60 s
    expect(fails.at(-1)).toMatchObject({ row: 'F6', evidence: { result: 'expired' } });
    expect(lab.child('a', first)?.state ?? 'DELETED').not.toBe('INSTALLED');
    expect(lab.children('a').filter((c) => c.state === 'INSTALLED')).toEqual([]);
  });

  it('strongSwan regular_responder_ignore_soft_expire: the responder does not rekey the SA it already replaced', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const oldB = lab.child('b').spiIn;
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
    lab.deliver('b');
    lab.deliver('a');
    expect(lab.cmd('b', (sa) => sa.rekeyChild(lab.now, oldB))).toEqual([]);
    expect(lab.child('b', oldB)?.state).toBe('REKEYED');
    lab.flush();
    lab.expectOnePair();
  });

  it('strongSwan regular_responder_handle_hard_expire: the replaced SA expires before its Delete arrives; the responder switches and deletes it; the Deletes cross', () => {
    const lab = new Lab(moon, sun, (cfg) => (cfg.children[0].lifeTime = 200));
    lab.establish();
    const oldB = lab.child('b').spiIn;
    lab.now += 100_000; // rekeyed half-way through its life: the new SA lives on after the old one expires
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
    lab.deliver('b');
    lab.deliver('a');
    const del = lab.hold('b'); // the initiator's Delete of the old SA is late
    lab.advance(lab.child('b', oldB)!.expireAt!);
    expect(lab.child('b', oldB)?.state).toBe('DELETING');
    expect(ofType(lab.events('b'), 'failure')).toEqual([]); // a replaced SA expiring is not a failure
    lab.deliver('b', del); // --> D(old): the Deletes crossed (RFC 7296 §1.4.1)
    lab.flush();
    lab.expectOnePair();
  });

  it('a lost rekey request is retransmitted; a retransmitted request is answered from the cache and makes no second SA', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.cmd('a', (sa) => sa.rekeyChild(lab.now, lab.child('a').spiIn));
    lab.hold('b'); // lost
    lab.advance(lab.now + 4000); // retransmit (RFC 7296 §2.1)
    lab.deliver('b');
    lab.hold('a'); // the response is lost
    lab.advance(lab.now + 7200);
    const again = lab.deliver('b');
    expect(again.map((e) => e.type)).toEqual(['send']);
    expect(lab.children('b').filter((c) => c.state !== 'DELETED').length).toBe(2); // old (REKEYED) and one new
    lab.flush();
    lab.expectOnePair();
  });
});

describe('an exchange whose response installs a Child SA is in flight (the daemon holds early ESP meanwhile)', () => {
  it('from IKE_SA_INIT until the IKE_AUTH response, on the initiator only (RFC 7296 §1.2)', () => {
    const lab = new Lab(moon, sun);
    lab.record('a', lab.a.initiate(lab.now, lab.aCfg).effects);
    expect(lab.ike('a').awaitingChildSa).toBe(true); // IKE_SA_INIT request out
    lab.deliver('b');
    expect(lab.ike('b').awaitingChildSa).toBe(false);
    lab.deliver('a'); // IKE_SA_INIT response -> IKE_AUTH request out
    expect(lab.ike('a').awaitingChildSa).toBe(true);
    lab.deliver('b'); // the responder installs its Child SA and answers: it may send ESP now
    expect(lab.ike('b').awaitingChildSa).toBe(false);
    lab.deliver('a');
    expect(lab.ike('a').state).toBe('ESTABLISHED');
    expect(lab.ike('a').awaitingChildSa).toBe(false);
  });

  it('not while a liveness check is in flight', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.cmd('a', (sa) => sa.liveness(lab.now));
    expect(lab.queue.b).toHaveLength(1); // the empty INFORMATIONAL is out
    expect(lab.ike('a').awaitingChildSa).toBe(false);
  });
});
