// Interop without strongSwan: replay the IKE_SA_INIT/IKE_AUTH datagrams two strongSwan 5.9.8
// charons exchanged (test/fixtures/strongswan/*.json, captured by interop/fixture/) into our
// state machine, in either role. The key exchange and randomness are pinned to the logged
// values (g^ir, SPI, nonce) so that our side derives strongSwan's keys; from there everything
// is ours: decrypting strongSwan's IKE_AUTH, checking its PSK AUTH, choosing the Child SA and
// deriving the Child SA keys, which must equal the keys charon logged.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { IkeSa } from '../../src/ike/ike-sa.js';
import { config, I_ADDR, R_ADDR, installs, failures, psk } from './helpers/pair.js';
import { seededRandom } from './helpers/random.js';
import type { KeyExchange } from '../../src/crypto/ke/types.js';

interface Fixture {
  source: string;
  ikeProposal: string;
  espProposal: string;
  psk: string;
  ids: { initiator: string; responder: string };
  trafficSelectors: { initiator: string; responder: string };
  messages: { from: 'initiator' | 'responder'; exchange: string; hex: string }[];
  keys: { spiI: string; spiR: string; ni: string; nr: string; sharedSecret: string };
  childKeys: { encrI: string; encrR: string; integI?: string; integR?: string };
}

const dir = join(import.meta.dirname, '..', 'fixtures', 'strongswan');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Returns the pinned values first (SPI, then nonce), then seeded bytes (IVs, ESP SPIs). */
function pinned(...first: Uint8Array[]): (n: number) => Uint8Array {
  const rest = seededRandom(3);
  return (n) => {
    const next = first.shift();
    if (next) {
      expect(next.length).toBe(n);
      return next.slice();
    }
    return rest(n);
  };
}

/** A key exchange that yields the logged g^ir (its own public value is never checked by the replay). */
const loggedKe = (secret: Uint8Array) => (group: number): KeyExchange => ({
  group,
  publicKey: new Uint8Array(32).fill(1),
  computeSharedSecret: () => secret.slice(),
  dispose: () => {},
});

for (const file of fixtures) {
  const fx = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Fixture;
  const [initReq, initResp, authReq, authResp] = fx.messages.map((m) => hex(m.hex));
  const side = (role: 'initiator' | 'responder') => {
    const me = role === 'initiator';
    const cfg = config(
      {
        id: fx.ids[role],
        remoteId: fx.ids[me ? 'responder' : 'initiator'],
        ike: [fx.ikeProposal],
        esp: [fx.espProposal],
        localTs: [fx.trafficSelectors[role]],
        remoteTs: [fx.trafficSelectors[me ? 'responder' : 'initiator']],
        localAuth: psk(fx.psk),
        seed: 1,
      },
      me ? I_ADDR : R_ADDR,
      me ? R_ADDR : I_ADDR,
    );
    cfg.random = me ? pinned(hex(fx.keys.spiI), hex(fx.keys.ni)) : pinned(hex(fx.keys.spiR), hex(fx.keys.nr));
    cfg.keyExchange = loggedKe(hex(fx.keys.sharedSecret));
    return cfg;
  };

  describe(`strongSwan replay: ${fx.ikeProposal} / ${fx.espProposal}`, () => {
    it('as initiator: opens strongSwan\'s IKE_AUTH response, verifies its AUTH, derives the logged Child SA keys', () => {
      const sa = IkeSa.initiator(side('initiator'));
      sa.initiate(0);
      const auth = sa.handleDatagram(1, initResp, { from: R_ADDR, to: I_ADDR });
      expect(sa.lastDropped).toBeUndefined();
      expect(auth.some((e) => e.type === 'send')).toBe(true);
      expect(sa.nat?.local || sa.nat?.remote).toBe(true); // charon fakes NAT-D for kernel-libipsec
      expect(sa.local.port).toBe(4500);
      const out = sa.handleDatagram(2, authResp, { from: { ...R_ADDR, port: 4500 }, to: { ...I_ADDR, port: 4500 } });
      expect(sa.lastDropped).toBeUndefined();
      expect(failures(out)).toEqual([]);
      expect(sa.state).toBe('ESTABLISHED');
      expect(sa.remoteId).toBe(fx.ids.responder);
      const [child] = installs(out);
      expect(toHex(child.keysOut.encr)).toBe(fx.childKeys.encrI);
      expect(toHex(child.keysIn.encr)).toBe(fx.childKeys.encrR);
      if (fx.childKeys.integI) expect(toHex(child.keysOut.integ)).toBe(fx.childKeys.integI);
      if (fx.childKeys.integR) expect(toHex(child.keysIn.integ)).toBe(fx.childKeys.integR);
      expect(child.encap).toBe(true);
    });

    it('as responder: answers strongSwan\'s IKE_SA_INIT, verifies its IKE_AUTH request, derives the logged Child SA keys', () => {
      const path = { from: I_ADDR, to: R_ADDR };
      const sa = IkeSa.responder([side('responder')], path);
      const first = sa.handleDatagram(0, initReq, path);
      expect(sa.lastDropped).toBeUndefined();
      expect(sa.state).toBe('CONNECTING');
      expect(first.some((e) => e.type === 'send')).toBe(true);
      const floated = { from: { ...I_ADDR, port: 4500 }, to: { ...R_ADDR, port: 4500 } };
      const out = sa.handleDatagram(1, authReq, floated);
      expect(sa.lastDropped).toBeUndefined();
      expect(failures(out)).toEqual([]);
      expect(sa.state).toBe('ESTABLISHED');
      expect(sa.remoteId).toBe(fx.ids.initiator);
      const [child] = installs(out);
      expect(toHex(child.keysIn.encr)).toBe(fx.childKeys.encrI);
      expect(toHex(child.keysOut.encr)).toBe(fx.childKeys.encrR);
      if (fx.childKeys.integI) expect(toHex(child.keysIn.integ)).toBe(fx.childKeys.integI);
      const reply = out.find((e) => e.type === 'send');
      expect(reply && reply.type === 'send' && reply.to).toEqual(floated.from); // answered on the floated path
    });
  });
}
