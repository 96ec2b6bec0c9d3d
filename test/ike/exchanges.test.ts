// Step-by-step exchange tests, one message at a time (the way strongSwan's exchange tests
// drive two daemons): retransmission and the response cache, F1, COOKIE, INVALID_KE_PAYLOAD,
// narrowing, TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN, authentication failures, Delete, liveness.
import { describe, it, expect } from 'vitest';
import { Pair, I_ADDR, R_ADDR, config, events, failures, installs, sends, psk, type SideOptions } from './helpers/pair.js';
import { IkeSa } from '../../src/ike/ike-sa.js';
import { decodeHeader } from '../../src/wire/message.js';
import type { Effect } from '../../src/ike/effects.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 1 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 2 };
const path = { from: I_ADDR, to: R_ADDR };
const back = { from: R_ADDR, to: I_ADDR };
const one = (fx: Effect[]): Uint8Array => {
  const s = sends(fx);
  expect(s.length).toBe(1);
  return s[0];
};

describe('retransmission and the response cache (RFC 7296 §2.1)', () => {
  it('retransmits the identical request at 4 s and 11.2 s; a duplicate request gets the cached response byte for byte', () => {
    const p = new Pair(moon, sun);
    const req = one(p.initiator.initiate(0));
    expect(p.initiator.pollTimeout()).toBe(4000);
    expect(p.initiator.handleTimeout(3999)).toEqual([]);
    const re1 = one(p.initiator.handleTimeout(4000));
    expect(re1).toEqual(req);
    expect(p.initiator.pollTimeout()).toBe(11200);
    expect(one(p.initiator.handleTimeout(11200))).toEqual(req);
    expect(p.initiator.stats.retransmitsSent).toBe(2);

    const resp = one(p.toResponder(req, I_ADDR, R_ADDR));
    const r = p.responder!;
    expect(r.state).toBe('CONNECTING');
    expect(one(p.toResponder(re1, I_ADDR, R_ADDR))).toEqual(resp);
    expect(r.stats.retransmitsReceived).toBe(1);
    expect(p.dispatcher.list().length).toBe(1);

    const auth = one(p.initiator.handleDatagram(12000, resp, back));
    expect(decodeHeader(auth).messageId).toBe(1);
    const authResp = one(p.toResponder(auth, I_ADDR, R_ADDR));
    expect(r.state).toBe('ESTABLISHED');
    const again = p.toResponder(auth, I_ADDR, R_ADDR);
    expect(sends(again)).toEqual([authResp]); // identical cached bytes
    expect(again.filter((e) => e.type !== 'send')).toEqual([]); // no new state, no new Child SA
    expect(r.state).toBe('ESTABLISHED');
    expect(r.children.length).toBe(1);
    p.initiator.handleDatagram(12001, authResp, back);
    expect(p.initiator.state).toBe('ESTABLISHED');
    // the duplicate response to an exchange already done is ignored, and counted as such (not as an invalid Message ID)
    expect(p.initiator.handleDatagram(12002, authResp, back)).toEqual([]);
    expect(p.initiator.stats).toMatchObject({ duplicateResponses: 1, invalidMessageId: 0 });
  });

  it('F1: after 5 retransmits and 165 s without an answer, names the address it tried', () => {
    const p = new Pair(moon, sun);
    p.initiator.initiate(0);
    let fx: Effect[] = [];
    let n = 0;
    while (p.initiator.pollTimeout() !== undefined && n++ < 20) fx = fx.concat(p.initiator.handleTimeout(p.initiator.pollTimeout()!));
    expect(sends(fx).length).toBe(5);
    const [early, f] = failures(fx);
    // the first sign at the first retransmit (4 s), then the final F1
    expect(early).toMatchObject({ row: 'F1', evidence: { pending: true, retransmits: 1, to: R_ADDR, exchange: 'IKE_SA_INIT', nextRetransmitInS: 7 } });
    expect(early!.message).toMatch(/no answer yet to IKE_SA_INIT from 198\.51\.100\.\d+:500: retransmitted 1x, next in 7 s/);
    expect(f).toMatchObject({ row: 'F1', evidence: { retransmits: 5, to: R_ADDR, exchange: 'IKE_SA_INIT' } });
    expect(f!.evidence).not.toHaveProperty('pending');
    expect(p.initiator.state).toBe('FAILED');
  });

  it('F1 no answer yet comes at the first retransmit, 4 s after the request (strongSwan timing)', () => {
    const p = new Pair(moon, sun);
    p.initiator.initiate(0);
    const at = p.initiator.pollTimeout()!;
    expect(at).toBe(4000);
    expect(failures(p.initiator.handleTimeout(at))).toMatchObject([{ row: 'F1', evidence: { pending: true } }]);
  });
});

describe('COOKIE (RFC 7296 §2.6)', () => {
  /** A pair whose responder already holds one half-open SA from another peer, with threshold 1. */
  function loaded(): Pair {
    const p = new Pair(moon, sun, undefined, 1);
    const other = IkeSa.initiator(config({ ...moon, seed: 50 }, { addr: '198.51.100.9', port: 500 }, R_ADDR));
    p.dispatcher.handleDatagram(0, one(other.initiate(0)), { from: { addr: '198.51.100.9', port: 500 }, to: R_ADDR });
    expect(p.dispatcher.halfOpenCount()).toBe(1);
    return p;
  }

  it('a responder under load demands a cookie and keeps no state; the initiator retries with it', () => {
    const p = loaded();
    const req = one(p.initiator.initiate(0));
    const demand = p.toResponder(req, I_ADDR, R_ADDR);
    expect(p.dispatcher.list().length).toBe(1); // still only the other peer's SA
    expect(p.dispatcher.stats.cookiesSent).toBe(1);
    const retry = p.initiator.handleDatagram(1, one(demand), back);
    expect(events(retry).map((e) => e.type)).toContain('cookie-requested');
    const retried = one(retry);
    expect(decodeHeader(retried).messageId).toBe(0);
    p.run(retry);
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.dispatcher.stats.cookiesSent).toBe(1);
  });

  it('a retry with a forged cookie is refused with a fresh demand and no state', () => {
    const p = loaded();
    const req = one(p.initiator.initiate(0));
    const retried = one(p.initiator.handleDatagram(1, one(p.toResponder(req, I_ADDR, R_ADDR)), back));
    const forged = retried.slice();
    forged[28 + 8 + 5] ^= 0xff; // inside the COOKIE data: generic header (4) + protocol, SPI size, type (4)
    const again = p.toResponder(forged, I_ADDR, R_ADDR);
    expect(p.dispatcher.stats.cookiesRejected).toBe(1);
    expect(sends(again).length).toBe(1);
    expect(p.dispatcher.list().length).toBe(1);
  });
});

describe('INVALID_KE_PAYLOAD (RFC 7296 §1.2)', () => {
  it('the initiator retries with the group the responder asks for', () => {
    const p = new Pair({ ...moon, ike: ['aes256gcm16-prfsha256-x25519-ecp256'] }, { ...sun, ike: ['aes256gcm16-prfsha256-ecp256'] });
    const req = one(p.initiator.initiate(0));
    const refusal = p.toResponder(req, I_ADDR, R_ADDR);
    expect(p.dispatcher.list()).toEqual([]); // stateless refusal
    const retry = p.initiator.handleDatagram(1, one(refusal), back);
    expect(events(retry)).toContainEqual({ type: 'invalid-ke', requested: 19 });
    p.run(retry);
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.initiator.proposal).toBe('aes256gcm16-prfsha256-ecp256');
  });
});

describe('traffic selectors (RFC 7296 §2.9)', () => {
  it('the responder narrows the initiator\'s wider selectors; both install the narrowed pair, and the initiator says from what, as a warning, not a failure', () => {
    const p = new Pair({ ...moon, remoteTs: ['10.0.0.0/8'] }, sun);
    p.establish();
    const [ci] = installs(p.iEffects);
    const [cr] = installs(p.rEffects);
    expect(ci.remoteTs).toEqual(['10.2.0.0/16']);
    expect(cr.localTs).toEqual(['10.2.0.0/16']);
    // a failure would make the initiator start over every 30 s into the same answer (it flapped)
    expect(failures(p.iEffects)).toEqual([]);
    const installed = events(p.iEffects).find((e) => e.type === 'child-installed');
    expect(installed).toMatchObject({ narrowed: true, localTs: ['10.1.0.0/16'], remoteTs: ['10.2.0.0/16'], proposed: { localTs: ['10.1.0.0/16'], remoteTs: ['10.0.0.0/8'] } });
    expect(events(p.rEffects).find((e) => e.type === 'child-installed')).toMatchObject({ narrowed: true });
  });

  it('F4 TS_UNACCEPTABLE: no intersection, the Child SA is refused but the IKE SA stays up', () => {
    const p = new Pair(moon, { ...sun, remoteTs: ['10.9.0.0/16'] });
    p.establish();
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.responder!.state).toBe('ESTABLISHED');
    expect(installs([...p.iEffects, ...p.rEffects])).toEqual([]);
    const fi = failures(p.iEffects).find((f) => f.row === 'F4');
    expect(fi?.evidence).toMatchObject({ notify: 'TS_UNACCEPTABLE', localTs: ['10.1.0.0/16'], remoteTs: ['10.2.0.0/16'] });
    const fr = failures(p.rEffects).find((f) => f.row === 'F4');
    expect(fr?.evidence).toMatchObject({ localTs: ['10.2.0.0/16'], remoteTs: ['10.9.0.0/16'], peerTsi: ['10.1.0.0/16'], peerTsr: ['10.2.0.0/16'], notify: 'TS_UNACCEPTABLE' });
  });
});

describe('NO_PROPOSAL_CHOSEN (F2)', () => {
  it('IKE proposals: both lists in the responder\'s evidence, the notify in the initiator\'s', () => {
    const p = new Pair({ ...moon, ike: ['aes128-sha1-modp2048'] }, { ...sun, ike: ['aes256gcm16-prfsha256-x25519'] });
    p.establish();
    expect(p.initiator.state).toBe('FAILED');
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F2', evidence: { scope: 'ike', ours: ['aes256gcm16-prfsha256-x25519'], theirs: ['aes128-sha1-prfsha1-modp2048'], notify: 'NO_PROPOSAL_CHOSEN' } });
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F2', evidence: { scope: 'ike', ours: ['aes128-sha1-prfsha1-modp2048'], notify: 'NO_PROPOSAL_CHOSEN' } });
  });

  it('ESP proposals: F2 for the Child SA, the IKE SA stays up (RFC 7296 §1.2)', () => {
    const p = new Pair({ ...moon, esp: ['aes128-sha256'] }, { ...sun, esp: ['chacha20poly1305'] });
    p.establish();
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F2', evidence: { scope: 'child', ours: ['chacha20poly1305-noesn'], theirs: ['aes128-sha256-noesn'] } });
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F2', evidence: { scope: 'child', notify: 'NO_PROPOSAL_CHOSEN' } });
    expect(failures(p.iEffects)[0]).not.toHaveProperty('evidence.mode');
  });

  it('ESP proposals refused while we asked for transport mode: F2 says so (RFC 7296 §1.3.1 USE_TRANSPORT_MODE; kernel-libipsec refuses it this way)', () => {
    const p = new Pair({ ...moon, esp: ['aes128-sha256'], mode: 'transport' }, { ...sun, esp: ['chacha20poly1305'] });
    p.establish();
    const [f] = failures(p.iEffects);
    expect(f).toMatchObject({ row: 'F2', evidence: { scope: 'child', notify: 'NO_PROPOSAL_CHOSEN', mode: 'transport' } });
    expect(f.message).toMatch(/USE_TRANSPORT_MODE/);
  });
});

describe('authentication failures (F3)', () => {
  it('wrong PSK: the responder names psk-mismatch and answers AUTHENTICATION_FAILED', () => {
    const p = new Pair(moon, { ...sun, localAuth: psk('another secret') });
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'psk-mismatch' } });
    // the rejected side says what it showed: its ID, the IDr it asked for, PSK (never the PSK itself)
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'peer-rejected', notify: 'AUTHENTICATION_FAILED', sent: { id: 'moon.example', askedIdr: 'sun.example', auth: 'psk' } } });
    expect(p.initiator.state).toBe('FAILED');
    expect(JSON.stringify(events([...p.iEffects, ...p.rEffects]))).not.toMatch(/another secret|correct horse/);
  });

  it('wrong ID at the responder: id-mismatch with both identities', () => {
    const p = new Pair(moon, { ...sun, remoteId: 'mars.example' });
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'id-mismatch', expectedId: 'mars.example', receivedId: 'moon.example' } });
    expect(p.initiator.state).toBe('FAILED');
  });

  it('wrong ID at the initiator: id-mismatch, and the responder is told', () => {
    const p = new Pair({ ...moon, remoteId: 'mars.example' }, { ...sun });
    p.establish();
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'id-mismatch', expectedId: 'mars.example', receivedId: 'sun.example' } });
    expect(p.initiator.state).toBe('FAILED');
    expect(p.responder?.state ?? 'FAILED').toBe('FAILED');
    expect(installs(p.iEffects)).toEqual([]);
    // the responder, told in an INFORMATIONAL, says what it showed
    expect(failures(p.rEffects).find((f) => (f.evidence as { check: string }).check === 'peer-rejected')).toMatchObject({ row: 'F3', evidence: { sent: { id: 'sun.example', auth: 'psk' } } });
  });
});

describe('INFORMATIONAL (RFC 7296 §1.4)', () => {
  it('Delete of the IKE SA removes both sides\' Child SAs', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const r = p.responder!;
    p.run(p.initiator.delete(p.now));
    expect(p.initiator.state).toBe('DELETED');
    expect(r.state).toBe('DELETED');
    for (const fx of [p.iEffects, p.rEffects]) {
      expect(fx.filter((e) => e.type === 'remove-sa').length).toBe(1);
      expect(events(fx).some((e) => e.type === 'ike-deleted')).toBe(true);
    }
    expect(p.dispatcher.list()).toEqual([]);
  });

  it('Delete of a Child SA: the responder deletes its half and answers with its own SPI', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const [child] = installs(p.iEffects);
    const before = p.rEffects.length;
    p.run(p.initiator.deleteChild(p.now, child.spiIn));
    const removedR = p.rEffects.slice(before).filter((e) => e.type === 'remove-sa');
    expect(removedR).toEqual([{ type: 'remove-sa', name: 'net', spiIn: child.spiOut, spiOut: child.spiIn }]);
    expect(p.iEffects.filter((e) => e.type === 'remove-sa')).toEqual([{ type: 'remove-sa', name: 'net', spiIn: child.spiIn, spiOut: child.spiOut }]);
    expect(p.initiator.children).toEqual([]);
    expect(p.responder!.children).toEqual([]);
    expect(p.initiator.state).toBe('ESTABLISHED');
  });

  it('liveness: an empty INFORMATIONAL is answered; without answers the SA is declared dead', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const before = p.iEffects.length;
    p.run(p.initiator.liveness(p.now));
    expect(events(p.iEffects.slice(before))).toContainEqual({ type: 'liveness', ok: true });

    let fx = p.initiator.liveness(p.now); // the peer is gone: nothing is delivered
    for (let n = 0; p.initiator.pollTimeout() !== undefined && n < 20; n++) fx = fx.concat(p.initiator.handleTimeout(p.initiator.pollTimeout()!));
    // DEFAULT_RETRANSMIT: the request and 5 retransmits, to where the peer was
    expect(events(fx)).toContainEqual({ type: 'liveness', ok: false, requests: 6, to: p.initiator.remote });
    expect(events(fx)).toContainEqual({ type: 'ike-deleted', reason: 'dead-peer' });
    expect(p.initiator.state).toBe('DELETED');
    expect(fx.filter((e) => e.type === 'remove-sa').length).toBe(1);
  });

  it('commands queue behind the exchange in flight (window size 1)', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const a = p.initiator.liveness(p.now);
    const b = p.initiator.liveness(p.now);
    expect(sends(a).length).toBe(1);
    expect(sends(b).length).toBe(0);
    p.run(a);
    expect(events(p.iEffects).filter((e) => e.type === 'liveness').length).toBe(2);
  });
});

describe('NAT detection (RFC 7296 §2.23) and half-open SAs', () => {
  it('an initiator behind a NAT is detected by both sides; IKE_AUTH floats to 4500 and ESP is UDP-encapsulated', () => {
    const p = new Pair(moon, sun);
    p.natAddr = '203.0.113.7';
    p.establish();
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.initiator.nat).toEqual({ local: true, remote: false });
    expect(p.responder!.nat).toEqual({ local: false, remote: true });
    expect(p.initiator.local.port).toBe(4500);
    expect(p.responder!.remote).toEqual({ addr: '203.0.113.7', port: 34500 });
    expect(installs(p.iEffects)[0].encap).toBe(true);
    expect(installs(p.rEffects)[0].remote).toEqual({ addr: '203.0.113.7', port: 34500 });
  });

  const sentTo = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'send' ? [e.to] : []));

  it('the NAT mapping changes mid-tunnel: the responder answers where the request came from and follows the peer there (RFC 7296 §2.11, §2.23)', () => {
    const p = new Pair(moon, sun);
    p.natAddr = '203.0.113.7';
    p.establish();
    const r = p.responder!;
    p.natPortOffset = 40000; // the NAT forgot the mapping and made a new one
    const before = p.rEffects.length;
    p.run(p.initiator.liveness(p.now));
    const fx = p.rEffects.slice(before);
    expect(sentTo(fx)).toEqual([{ addr: '203.0.113.7', port: 44500 }]); // not the old 34500
    expect(events(fx)).toContainEqual({ type: 'peer-moved', from: { addr: '203.0.113.7', port: 34500 }, to: { addr: '203.0.113.7', port: 44500 }, via: 'ike', nat: { local: false, remote: true } });
    expect(events(p.iEffects.slice(-3))).toContainEqual({ type: 'liveness', ok: true });
    // and the responder's own requests go there too
    expect(sentTo(r.liveness(p.now))).toEqual([{ addr: '203.0.113.7', port: 44500 }]);
  });

  it('without a NAT in the path, a request from another port is answered there, but the peer is not moved', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const r = p.responder!;
    const [req] = sends(p.initiator.liveness(p.now));
    const fx = p.toResponder(req, { addr: I_ADDR.addr, port: 40500 }, R_ADDR);
    expect(sentTo(fx)).toEqual([{ addr: I_ADDR.addr, port: 40500 }]);
    expect(events(fx).filter((e) => e.type === 'peer-moved')).toEqual([]);
    expect(r.remote).toEqual(I_ADDR);
  });

  it('a responder forgets a half-open SA after 30 s without IKE_AUTH', () => {
    const p = new Pair(moon, sun);
    const req = one(p.initiator.initiate(0));
    p.toResponder(req, I_ADDR, R_ADDR);
    expect(p.dispatcher.halfOpenCount()).toBe(1);
    expect(p.dispatcher.pollTimeout()).toBe(30_000);
    const fx = p.dispatcher.handleTimeout(30_000);
    expect(events(fx)).toContainEqual({ type: 'ike-deleted', reason: 'half-open-timeout' });
    expect(p.dispatcher.list()).toEqual([]);
  });
});

describe('a lossy, duplicating, reordering path', () => {
  it('every message delivered twice: established once, duplicates answered from the cache', () => {
    const p = new Pair(moon, sun, () => 'duplicate');
    p.establish();
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.responder!.children.length).toBe(1);
    expect(installs(p.iEffects).length).toBe(1);
    expect(installs(p.rEffects).length).toBe(1);
    expect(p.responder!.stats.retransmitsReceived).toBeGreaterThan(0);
  });

  it('the first IKE_AUTH request lost, a liveness request delivered late: retransmission and the window recover', () => {
    const p = new Pair(moon, sun, ({ index }) => (index === 2 ? 'drop' : 'deliver'));
    p.establish();
    expect(p.initiator.state).toBe('CONNECTING');
    p.tick(); // 4 s later the IKE_AUTH request is sent again
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.initiator.stats.retransmitsSent).toBe(1);

    const q = new Pair(moon, sun, ({ index }) => (index === 4 ? 'hold' : 'deliver'));
    q.establish();
    q.run(q.initiator.liveness(q.now));
    expect(events(q.iEffects)).toContainEqual({ type: 'liveness', ok: true });
  });
});

describe('requests from the original responder', () => {
  it('the responder deletes the IKE SA; the initiator answers and removes its Child SA', () => {
    const p = new Pair(moon, sun);
    p.establish();
    p.run(p.responder!.delete(p.now), 'r');
    expect(p.initiator.state).toBe('DELETED');
    expect(events(p.iEffects)).toContainEqual({ type: 'ike-deleted', reason: 'peer' });
    expect(p.iEffects.filter((e) => e.type === 'remove-sa').length).toBe(1);
    expect(p.dispatcher.list()).toEqual([]);
  });

  it('the responder deletes the Child SA; its Message IDs are counted separately from the initiator\'s', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const r = p.responder!;
    const [child] = installs(p.rEffects);
    const del = r.deleteChild(p.now, child.spiIn);
    expect(decodeHeader(one(del)).messageId).toBe(0); // RFC 7296 §2.2: each direction starts at 0
    p.run(del, 'r');
    expect(p.initiator.children).toEqual([]);
    expect(r.children).toEqual([]);
    p.run(p.initiator.liveness(p.now));
    expect(events(p.iEffects)).toContainEqual({ type: 'liveness', ok: true });
  });
});
