// IKE SA rekeying (RFC 7296 §1.3.2, §2.18), one message at a time: new SPIs and keys, the Child
// SAs move to the new IKE SA without touching the datapath, the old IKE SA is deleted, and
// the dispatcher routes by the new SPIs. Covers strongSwan's test_ike_rekey.c "regular" cases.
import { describe, it, expect } from 'vitest';
import { negotiatedAlgorithms, parseProposal } from '../../src/crypto/proposal.js';
import { createKeyExchange } from '../../src/crypto/ke/index.js';
import { deriveIkeKeys, deriveRekeySkeyseed } from '../../src/crypto/kdf.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import type { SideOptions } from './helpers/pair.js';
import { Lab, ofType, type Side } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 41 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 42 };
const spis = (sa: IkeSa) => `${Buffer.from(sa.spiI).toString('hex')}/${Buffer.from(sa.spiR).toString('hex')}`;

function regularIke(lab: Lab, by: Side) {
  const peer: Side = by === 'a' ? 'b' : 'a';
  const old = { a: lab.ike('a'), b: lab.ike('b') };
  const oldSpis = spis(old.a);
  const child = { a: lab.child('a').spiIn, b: lab.child('b').spiIn };
  const dpLog = { a: lab.dp.a.log.length, b: lab.dp.b.log.length };
  lab.cmd(by, (sa) => sa.rekeyIke(lab.now));

  // CREATE_CHILD_SA { SA, Ni, KEi } -->
  lab.deliver(peer);
  expect(old[peer].state).toBe('REKEYED');
  expect(old[peer].children).toEqual([]);
  const newPeer = old[peer].successor!;
  expect(newPeer.state).toBe('ESTABLISHED');
  expect(newPeer.children.map((c) => c.spiIn)).toEqual([child[peer]]);
  expect(lab.disp(peer).list().length).toBe(2);

  // <-- CREATE_CHILD_SA { SA, Nr, KEr }
  lab.deliver(by);
  expect(old[by].state).toBe('DELETING');
  const newBy = old[by].successor!;
  expect(newBy.role).toBe('initiator'); // RFC 7296 §2.18: the rekey initiator is the new SA's original initiator
  expect(newPeer.role).toBe('responder');
  expect(spis(newBy)).toBe(spis(newPeer));
  expect(spis(newBy)).not.toBe(oldSpis);

  // INFORMATIONAL { D } -->  and  <-- INFORMATIONAL { }
  lab.deliver(peer);
  lab.deliver(by);
  for (const s of ['a', 'b'] as const) {
    expect(lab.disp(s).list()).toEqual([s === by ? newBy : newPeer]); // the old SA is gone from the dispatcher
    expect(lab.dp[s].log.length).toBe(dpLog[s]); // the datapath was not touched
    expect(lab.child(s).spiIn).toBe(child[s]);
    const ev = ofType(lab.events(s), 'ike-rekeyed').at(-1)!;
    expect(ev.spiI + '/' + ev.spiR).toBe(spis(newBy));
    expect(ofType(lab.events(s), 'ike-deleted').at(-1)).toEqual({ type: 'ike-deleted', reason: 'rekeyed' });
    expect(ofType(lab.events(s), 'failure')).toEqual([]);
  }
  return { newBy, newPeer };
}

describe('IKE SA rekey (RFC 7296 §2.18), one message at a time', () => {
  for (const by of ['a', 'b'] as const) {
    it(`§2.18: the original ${by === 'a' ? 'initiator' : 'responder'} rekeys the IKE SA; Child SAs move, the old IKE SA is deleted, new keys work both ways`, () => {
      const lab = new Lab(moon, sun);
      lab.establish();
      const { newBy } = regularIke(lab, by);
      expect(newBy.rekeys).toBe(1);
      // the new keys (SK_e/SK_a from the new SKEYSEED) protect an exchange each way, Message IDs from 0
      lab.cmd('a', (sa) => sa.liveness(lab.now));
      lab.cmd('b', (sa) => sa.liveness(lab.now));
      lab.flush();
      for (const s of ['a', 'b'] as const) expect(ofType(lab.events(s), 'liveness')).toEqual([{ type: 'liveness', ok: true }]);
      // SK_d of the new SA derives the same Child SA keys on both ends
      lab.cmd(by, (sa) => sa.rekeyChild(lab.now, lab.child(by).spiIn));
      lab.flush();
      lab.expectOnePair();
      // and it can be rekeyed again, from the other end
      regularIke(lab, by === 'a' ? 'b' : 'a');
      expect(lab.ike('a').rekeys).toBe(2);
    });
  }

  it('§2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old PRF; the new keys with the new PRF, Ni/SPIi from the rekey initiator (here the original responder)', () => {
    const secrets: Uint8Array[] = [];
    const lab = new Lab(moon, sun, (cfg, side) => {
      if (side === 'a') cfg.keyExchange = (g) => {
        const ke = createKeyExchange(g);
        return { group: ke.group, publicKey: ke.publicKey, dispose: () => ke.dispose(), computeSharedSecret: (p: Uint8Array) => { const x = ke.computeSharedSecret(p); secrets.push(x.slice()); return x; } };
      };
    });
    lab.establish();
    const keysOf = (sa: IkeSa) => (sa as unknown as { ctx: { keys: { skD: Uint8Array; prfId: number } } }).ctx.keys;
    const old = keysOf(lab.ike('b'));
    const oldSkD = old.skD.slice();
    const next = [parseProposal('aes256gcm16-prfsha384-x25519', 'ike')]; // the new IKE SA uses another PRF
    lab.aCfg.proposals = next;
    lab.bCfg.proposals = next;
    lab.cmd('b', (sa) => sa.rekeyIke(lab.now));
    const ni = lab.nonces.b.at(-1)!;
    lab.deliver('a');
    const nr = lab.nonces.a.at(-1)!;
    lab.flush();
    const now = lab.ike('a');
    expect(now.proposal).toContain('prfsha384');
    const alg = negotiatedAlgorithms(next[0]);
    const skeyseed = deriveRekeySkeyseed(old.prfId, oldSkD, secrets.at(-1)!, ni, nr);
    const want = deriveIkeKeys(alg.prf, alg.encr, alg.integ, skeyseed, ni, nr, now.spiI, now.spiR);
    expect(now.role).toBe('responder'); // b initiated the rekey, so b's SPI is SPIi
    expect(Buffer.from(keysOf(now).skD).toString('hex')).toBe(Buffer.from(want.skD).toString('hex'));
    expect(Buffer.from(keysOf(lab.ike('b')).skD).toString('hex')).toBe(Buffer.from(want.skD).toString('hex'));
  });

  it('§1.3.2/§1.2: INVALID_KE_PAYLOAD in an IKE SA rekey: retried with the responder\'s group', () => {
    const lab = new Lab({ ...moon, ike: ['aes256gcm16-prfsha256-x25519-ecp256'] }, { ...sun, ike: ['aes256gcm16-prfsha256-ecp256-x25519'] });
    lab.establish(); // IKE_SA_INIT used x25519, for which a KE was sent
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.deliver('b'); // the responder prefers ecp256
    expect(lab.ike('b').state).toBe('ESTABLISHED');
    lab.deliver('a');
    expect(ofType(lab.events('a'), 'invalid-ke')).toEqual([{ type: 'invalid-ke', requested: 19 }]);
    lab.flush();
    expect(lab.a.list().length).toBe(1);
    expect(lab.ike('a').proposal).toContain('ecp256');
    expect(spis(lab.ike('a'))).toBe(spis(lab.ike('b')));
    lab.expectOnePair();
  });

  it('F6: an IKE SA rekey refused with NO_PROPOSAL_CHOSEN is reported with the group and SPIs; the IKE SA stays', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.bCfg.proposals = [parseProposal('aes128gcm16-prfsha384-ecp384', 'ike')]; // the peer's configuration changed
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.flush();
    const [f] = ofType(lab.events('a'), 'failure');
    expect(f).toMatchObject({ row: 'F6', evidence: { scope: 'ike', result: 'refused', notify: 'NO_PROPOSAL_CHOSEN', pfsGroup: 'CURVE25519' } });
    expect(f.row === 'F6' && f.evidence.oldSpis.join('')).toBe(spis(lab.ike('a')).replace('/', ''));
    expect(lab.ike('a').state).toBe('ESTABLISHED');
    lab.expectOnePair();
  });

  it('F6 is not the end: a refused IKE SA rekey is tried again within 10 s and succeeds once the peer accepts', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    const good = lab.bCfg.proposals;
    lab.bCfg.proposals = [parseProposal('aes128gcm16-prfsha384-ecp384', 'ike')];
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.flush();
    expect(ofType(lab.events('a'), 'failure')[0].message).toMatch(/tried again in 2-10 s/);
    const before = spis(lab.ike('a'));
    const retryAt = lab.a.pollTimeout()!;
    expect(retryAt - lab.now).toBeGreaterThanOrEqual(2000);
    expect(retryAt - lab.now).toBeLessThanOrEqual(10_000);
    lab.bCfg.proposals = good;
    const mark = lab.fx.a.length; // events(side, from) counts effects
    lab.advance(retryAt);
    lab.flush();
    expect(ofType(lab.events('a', mark), 'ike-rekeyed')).toHaveLength(1);
    expect(spis(lab.ike('a'))).not.toBe(before);
    expect(spis(lab.ike('a'))).toBe(spis(lab.ike('b')));
    lab.expectOnePair();
  });

  it('the rekey response is lost: the retransmitted request reaches the old (REKEYED) IKE SA and is answered from its cache', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.deliver('b');
    lab.hold('a');
    lab.advance(lab.now + 4000);
    const again = lab.deliver('b');
    expect(again.map((e) => e.type)).toEqual(['send']);
    expect(lab.b.list().length).toBe(2); // no third IKE SA
    lab.flush();
    expect(lab.a.list().length).toBe(1);
    expect(lab.b.list().length).toBe(1);
    expect(spis(lab.ike('a'))).toBe(spis(lab.ike('b')));
    lab.expectOnePair();
  });

  it('the soft lifetime of the IKE SA starts its rekey; a REKEYED SA whose Delete never comes is dropped after a minute', () => {
    const lab = new Lab(moon, sun, (cfg) => (cfg.rekeyTime = 600));
    lab.establish();
    const t = Math.min(lab.ike('a').rekeyAt!, lab.ike('b').rekeyAt!);
    expect(t - lab.now).toBeGreaterThanOrEqual(540_000);
    lab.advance(t);
    const by: Side = lab.queue.b.length ? 'a' : 'b';
    const peer: Side = by === 'a' ? 'b' : 'a';
    lab.deliver(peer);
    lab.deliver(by);
    lab.hold(peer); // the Delete of the old IKE SA is lost, and so are its retransmits
    expect(lab.disp(peer).list().length).toBe(2);
    lab.advance(lab.now + 60_000);
    expect(lab.disp(peer).list().length).toBe(1);
    expect(lab.disp(peer).list()[0].children.length).toBe(1);
  });
});
