// Bad input never escapes as an exception and never changes state: a table of malformed and
// forged messages with the counter each must land in, then a seeded fuzz loop of mutated
// valid messages fed to SAs in each state (RFC 7296 §2.21: unauthenticated junk is dropped).
import { describe, it, expect } from 'vitest';
import { Pair, I_ADDR, R_ADDR, sends, type SideOptions } from './helpers/pair.js';
import { seededRandom } from './helpers/random.js';
import { encodeMessage, type HeaderFields } from '../../src/wire/message.js';
import { ExchangeType, ProtocolId } from '../../src/wire/constants.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import type { Effect } from '../../src/ike/effects.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 21 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 22 };
const back = { from: R_ADDR, to: I_ADDR };

function established(): { p: Pair; msgs: Uint8Array[] } {
  const msgs: Uint8Array[] = [];
  const p = new Pair(moon, sun, ({ bytes }) => {
    msgs.push(bytes);
    return 'deliver';
  });
  p.establish();
  p.run(p.initiator.liveness(p.now));
  expect(p.initiator.state).toBe('ESTABLISHED');
  return { p, msgs };
}

// a request from the responder to the initiator: the first one it may send has Message ID 0
const hdr = (sa: IkeSa, over: Partial<HeaderFields> = {}): HeaderFields => ({
  spiI: sa.spiI, spiR: sa.spiR, majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.INFORMATIONAL,
  flags: { initiator: false, version: false, response: false }, messageId: 0, ...over,
});

describe('malformed and forged input (table)', () => {
  const { p } = established();
  const sa = p.initiator;
  const cases: { name: string; bytes: () => Uint8Array; counter: keyof IkeSa['stats'] }[] = [
    { name: 'empty datagram', bytes: () => new Uint8Array(0), counter: 'malformed' },
    { name: 'shorter than the IKE header', bytes: () => new Uint8Array(27), counter: 'malformed' },
    { name: 'length field disagrees with the datagram', bytes: () => { const b = encodeMessage(hdr(sa), []); b[27] += 4; return b; }, counter: 'malformed' },
    { name: 'major version 3', bytes: () => { const b = encodeMessage(hdr(sa), []); b[17] = 0x30; return b; }, counter: 'malformed' },
    { name: 'payload chain runs past the end', bytes: () => { const b = encodeMessage(hdr(sa), [{ kind: 'V', critical: false, data: new Uint8Array(8) }]); b[30] = 0xff; return b; }, counter: 'malformed' },
    { name: 'unprotected Delete of the IKE SA', bytes: () => encodeMessage(hdr(sa), [{ kind: 'D', critical: false, protocol: ProtocolId.IKE, spiSize: 0, spis: [] }]), counter: 'unprotected' },
    { name: 'unknown IKE SPI', bytes: () => encodeMessage(hdr(sa, { spiI: new Uint8Array(8).fill(9) }), []), counter: 'unknownSpi' },
    { name: 'request outside the window', bytes: () => encodeMessage(hdr(sa, { messageId: 7 }), []), counter: 'invalidMessageId' },
    { name: 'response to nothing we sent', bytes: () => encodeMessage(hdr(sa, { flags: { initiator: false, version: false, response: true }, messageId: 5 }), []), counter: 'invalidMessageId' },
    { name: 'our own I flag (a reflected message)', bytes: () => encodeMessage(hdr(sa, { flags: { initiator: true, version: false, response: false } }), []), counter: 'malformed' },
  ];
  for (const c of cases) {
    it(`${c.name} -> stats.${c.counter}, no effects, state unchanged`, () => {
      const before = sa.stats[c.counter];
      let fx: Effect[] = [];
      expect(() => (fx = sa.handleDatagram(p.now, c.bytes(), back))).not.toThrow();
      expect(fx).toEqual([]);
      expect(sa.stats[c.counter]).toBe(before + 1);
      expect(sa.state).toBe('ESTABLISHED');
      expect(sa.children.length).toBe(1);
      expect(sa.stats.internalErrors).toBe(0);
    });
  }

  it('a protected message with a flipped ciphertext bit fails the ICV and is dropped', () => {
    const { p: q, msgs } = established();
    const lastReq = msgs[msgs.length - 2]; // the liveness request, from the initiator
    const bad = lastReq.slice();
    bad[bad.length - 20] ^= 1;
    const r = q.responder!;
    const before = r.stats.integrityFailed;
    expect(q.toResponder(bad, I_ADDR, R_ADDR)).toEqual([]);
    expect(r.stats.integrityFailed + r.stats.invalidMessageId).toBeGreaterThan(before);
  });

  it('the dispatcher counts datagrams for unknown SPIs and junk without throwing', () => {
    const d = p.dispatcher;
    expect(d.handleDatagram(0, new Uint8Array(3), { from: I_ADDR, to: R_ADDR })).toEqual([]);
    expect(d.handleDatagram(0, encodeMessage(hdr(sa, { spiR: new Uint8Array(8).fill(1), flags: { initiator: true, version: false, response: false } }), []), { from: I_ADDR, to: R_ADDR })).toEqual([]);
    expect(d.stats.malformed).toBe(1);
    expect(d.stats.unknownSpi).toBe(1);
  });
});

/** A copy of `msg` that differs from it: bit flip, byte set, truncation, extension or swap. */
function mutate(rand: (n: number) => Uint8Array, msg: Uint8Array): Uint8Array {
  const m = mutateOnce(rand, msg);
  if (m.length !== msg.length || m.some((b, i) => b !== msg[i])) return m;
  const out = msg.slice();
  out[m.length >> 1] ^= 0x80; // the random edit was a no-op (same byte, self-swap): flip a bit instead
  return out;
}

function mutateOnce(rand: (n: number) => Uint8Array, msg: Uint8Array): Uint8Array {
  const r = rand(4);
  const at = ((r[1] << 8) | r[2]) % Math.max(1, msg.length);
  const out = msg.slice();
  switch (r[0] % 5) {
    case 0: out[at] ^= 1 << (r[3] % 8); return out;
    case 1: out[at] = r[3]; return out;
    case 2: return out.subarray(0, at);
    case 3: { const x = new Uint8Array(msg.length + 1 + (r[3] % 16)); x.set(msg); return x; }
    default: { const j = r[3] % msg.length; [out[at], out[j]] = [out[j], out[at]]; return out; }
  }
}

describe('seeded fuzz: mutated valid messages', () => {
  const ROUNDS = 150;

  it('an ESTABLISHED pair drops every mutated message without a state change', () => {
    const { p, msgs } = established();
    const rand = seededRandom(4242);
    const r = p.responder!;
    for (let k = 0; k < ROUNDS; k++) {
      for (const m of msgs) {
        const bad = mutate(rand, m);
        expect(() => p.initiator.handleDatagram(p.now, bad, back)).not.toThrow();
        expect(() => p.toResponder(bad, I_ADDR, R_ADDR)).not.toThrow();
      }
    }
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(r.state).toBe('ESTABLISHED');
    expect(p.initiator.children.length).toBe(1);
    expect(r.children.length).toBe(1);
    expect(p.initiator.stats.internalErrors + r.stats.internalErrors + p.dispatcher.stats.internalErrors).toBe(0);
    // still works afterwards
    const before = p.iEffects.length;
    p.run(p.initiator.liveness(p.now));
    expect(p.iEffects.slice(before).some((e) => e.type === 'event' && e.event.type === 'liveness' && e.event.ok)).toBe(true);
  });

  it('a responder waiting for IKE_AUTH and an initiator waiting for its answer drop mutated IKE_AUTH messages', () => {
    const rand = seededRandom(77);
    const p = new Pair(moon, sun);
    const init = sends(p.initiator.initiate(0))[0];
    const initResp = sends(p.toResponder(init, I_ADDR, R_ADDR))[0];
    const auth = sends(p.initiator.handleDatagram(1, initResp, back))[0];
    const r = p.responder!;
    for (let k = 0; k < ROUNDS; k++) {
      expect(() => p.toResponder(mutate(rand, auth), I_ADDR, R_ADDR)).not.toThrow();
      expect(() => p.toResponder(mutate(rand, init), I_ADDR, R_ADDR)).not.toThrow();
    }
    expect(r.state).toBe('CONNECTING');
    const authResp = sends(p.toResponder(auth, I_ADDR, R_ADDR))[0];
    expect(r.state).toBe('ESTABLISHED');
    for (let k = 0; k < ROUNDS; k++) {
      expect(() => p.initiator.handleDatagram(2, mutate(rand, authResp), back)).not.toThrow();
      expect(() => p.initiator.handleDatagram(2, mutate(rand, initResp), back)).not.toThrow();
    }
    expect(p.initiator.state).toBe('CONNECTING');
    p.initiator.handleDatagram(3, authResp, back);
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.initiator.stats.internalErrors + r.stats.internalErrors).toBe(0);
  });

  it('an initiator waiting for IKE_SA_INIT never throws on a mutated response (unprotected: it may fail, never crash)', () => {
    const rand = seededRandom(99);
    let failed = 0;
    for (let k = 0; k < ROUNDS; k++) {
      const p = new Pair(moon, sun);
      const init = sends(p.initiator.initiate(0))[0];
      const resp = sends(p.toResponder(init, I_ADDR, R_ADDR))[0];
      expect(() => p.initiator.handleDatagram(1, mutate(rand, resp), back)).not.toThrow();
      expect(['CONNECTING', 'FAILED']).toContain(p.initiator.state);
      if (p.initiator.state === 'FAILED') failed++;
      expect(p.initiator.stats.internalErrors).toBe(0);
    }
    expect(failed).toBeLessThan(ROUNDS / 4);
  });

  it('a fresh responder (via the dispatcher) never throws on mutated IKE_SA_INIT requests', () => {
    const rand = seededRandom(5);
    const p = new Pair(moon, sun);
    const init = sends(p.initiator.initiate(0))[0];
    for (let k = 0; k < ROUNDS; k++) {
      const bad = mutate(rand, init);
      expect(() => p.dispatcher.handleDatagram(0, bad, { from: I_ADDR, to: R_ADDR })).not.toThrow();
    }
    expect(p.dispatcher.stats.internalErrors).toBe(0);
    for (const sa of p.dispatcher.list()) expect(sa.stats.internalErrors).toBe(0);
  });
});
