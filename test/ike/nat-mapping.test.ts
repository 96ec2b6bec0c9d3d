// Failure map F8 in the IKE layer: the peer's NAT mapping changes mid-tunnel. Authenticated
// ESP from a new port moves the peer (RFC 7296 §2.23); an unauthenticated hint only sends a
// liveness check there (IkeSa.probe), and only its authenticated answer moves the peer; an
// unanswered check leaves the SA as it was (the hint may be forged).
import { describe, expect, it } from 'vitest';
import { Pair, events, sends, type SideOptions } from './helpers/pair.js';
import { decodeHeader } from '../../src/wire/message.js';
import { ExchangeType } from '../../src/wire/constants.js';
import type { Effect } from '../../src/ike/effects.js';
import { withForcedEncap } from '../../src/ike/nat.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 11 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 12 };
const sentTo = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'send' ? [e.to] : []));
const OLD = { addr: '203.0.113.7', port: 34500 }; // the NAT's first mapping of the initiator's 4500
const NEW = { addr: '203.0.113.7', port: 44500 };

function behindNat(): Pair {
  const p = new Pair(moon, sun);
  p.natAddr = OLD.addr;
  p.establish();
  expect(p.responder!.remote).toEqual(OLD);
  return p;
}

describe('F8: the NAT mapping in front of the peer changes', () => {
  it('authenticated ESP from a new port moves the peer: event peer-moved via esp with the NAT-D results, requests go there', () => {
    const p = behindNat();
    const r = p.responder!;
    const fx = r.espFrom(p.now, NEW);
    expect(events(fx)).toEqual([{ type: 'peer-moved', from: OLD, to: NEW, via: 'esp', nat: { local: false, remote: true } }]);
    expect(r.remote).toEqual(NEW);
    expect(sentTo(r.liveness(p.now))).toEqual([NEW]);
    expect(r.espFrom(p.now, NEW)).toEqual([]); // the same mapping again: nothing new
  });

  it('a request in flight when the peer moves is retransmitted to the new port, not the old mapping (RFC 7296 §2.23)', () => {
    const p = behindNat();
    const r = p.responder!;
    expect(sentTo(r.liveness(p.now))).toEqual([OLD]); // sent, unanswered: the old mapping is gone
    r.espFrom(p.now, NEW);
    const again = r.handleTimeout(r.pollTimeout()!);
    expect(sentTo(again)).toEqual([NEW]);
  });

  it('without a NAT in front of the peer, ESP from another port moves nothing', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const r = p.responder!;
    const was = { ...r.remote };
    expect(r.espFrom(p.now, { addr: was.addr, port: 40500 })).toEqual([]);
    expect(r.remote).toEqual(was);
  });

  it('a hint (keepalive, ESP that failed its ICV) sends a liveness check to the new port; its authenticated answer moves the peer', () => {
    const p = behindNat();
    const r = p.responder!;
    p.natPortOffset = 40000; // the NAT made a new mapping: the initiator's packets now come from 44500
    const probe = r.probe(p.now, NEW);
    expect(sentTo(probe)).toEqual([NEW]);
    expect(decodeHeader(sends(probe)[0]).exchangeType).toBe(ExchangeType.INFORMATIONAL);
    expect(r.remote).toEqual(OLD); // nothing moves on the hint alone
    const before = p.rEffects.length;
    p.run(probe, 'r');
    expect(events(p.rEffects.slice(before))).toContainEqual({ type: 'peer-moved', from: OLD, to: NEW, via: 'ike', nat: { local: false, remote: true } });
    expect(r.remote).toEqual(NEW);
  });

  it('an unanswered check (a forged hint) leaves the SA established, at its old address, and the next request uses the unanswered Message ID', () => {
    const p = behindNat();
    const r = p.responder!;
    const probe = r.probe(p.now, NEW);
    const id = decodeHeader(sends(probe)[0]).messageId;
    expect(r.probe(p.now, { addr: NEW.addr, port: 50000 })).toEqual([]); // one at a time
    let fx: Effect[] = [];
    for (let n = 0; n < 6; n++) fx = fx.concat(r.handleTimeout(r.pollTimeout()!)); // 5 retransmits (4 s ... 165 s), then it gives up
    expect(sentTo(fx)).toEqual(new Array(5).fill(NEW)); // its retransmits went there too
    expect(r.state).toBe('ESTABLISHED');
    expect(r.remote).toEqual(OLD);
    expect(events(fx).filter((e) => e.type === 'ike-deleted' || e.type === 'failure')).toEqual([]);
    const next = sends(r.liveness(p.now));
    expect(decodeHeader(next[0]).messageId).toBe(id);
  });

  it('IKE hints: a retransmitted request, or a message that fails its integrity check, from a new port sends a liveness check there, and moves nothing', () => {
    const p = behindNat();
    const r = p.responder!;
    const [req] = sends(p.initiator.liveness(p.now));
    p.toResponder(req!, { addr: '192.0.2.1', port: 4500 }, { addr: r.local.addr, port: r.local.port }); // answered, from the old mapping
    const again = p.dispatcher.handleDatagram(p.now, req!, { from: NEW, to: r.local });
    const [cached, probe] = again.filter((e) => e.type === 'send') as Extract<Effect, { type: 'send' }>[];
    expect(cached!.to).toEqual(NEW); // RFC 7296 §2.11: the cached response where the retransmit came from
    expect(decodeHeader(cached!.bytes).flags.response).toBe(true);
    expect(probe!.to).toEqual(NEW);
    expect(decodeHeader(probe!.bytes).flags.response).toBe(false); // our own request: the liveness check
    expect(events(again).filter((e) => e.type === 'peer-moved')).toEqual([]);
    expect(r.remote).toEqual(OLD);

    const q = behindNat();
    const [req2] = sends(q.initiator.liveness(q.now));
    const forged = req2!.slice();
    forged[forged.length - 1] ^= 0xff; // the ICV no longer verifies
    const fx = q.dispatcher.handleDatagram(q.now, forged, { from: NEW, to: q.responder!.local });
    expect(sentTo(fx)).toEqual([NEW]);
    expect(q.responder!.remote).toEqual(OLD);
  });

  it('a hint from the current mapping, or with no NAT, sends nothing', () => {
    const p = behindNat();
    expect(p.responder!.probe(p.now, OLD)).toEqual([]);
    const q = new Pair(moon, sun);
    q.establish();
    expect(q.responder!.probe(q.now, { addr: q.responder!.remote.addr, port: 40500 })).toEqual([]);
  });
});

describe('a peer that forces UDP encapsulation without a NAT (strongSwan kernel-libipsec fakes NAT-D)', () => {
  const peer = { addr: '198.51.100.2', port: 500 };
  it('its NAT-D does not match, but it speaks from the address we expect on port 500: peerForcesEncap, not "behind a NAT"', () => {
    expect(withForcedEncap({ local: false, remote: true }, peer, peer)).toEqual({ local: false, remote: true, peerForcesEncap: true });
  });
  it('a translated port or address, a %any peer, or a NAT on our side: a NAT as detected', () => {
    expect(withForcedEncap({ local: false, remote: true }, { addr: peer.addr, port: 31000 }, peer)).toEqual({ local: false, remote: true });
    expect(withForcedEncap({ local: false, remote: true }, { addr: '203.0.113.7', port: 500 }, peer)).toEqual({ local: false, remote: true });
    expect(withForcedEncap({ local: false, remote: true }, peer, undefined)).toEqual({ local: false, remote: true });
    expect(withForcedEncap({ local: true, remote: true }, peer, peer)).toEqual({ local: true, remote: true });
    expect(withForcedEncap({ local: false, remote: false }, peer, peer)).toEqual({ local: false, remote: false });
  });
});

