// MOBIKE (RFC 4555) in process: two IKE SAs negotiate it in IKE_AUTH (§3.2); the client's
// address changes and it sends UPDATE_SA_ADDRESSES with NAT-D and COOKIE2 (§3.5, §3.11); the
// gateway moves the peer only once that request has passed its integrity check, and a forged
// one is dropped and counted. NAT-D is redone, and a NAT that appears switches to port 4500 (§3.9).
import { describe, expect, it } from 'vitest';
import { I_ADDR, Pair, R_ADDR, events, sends, type SideOptions } from './helpers/pair.js';
import { decodeMessage } from '../../src/wire/message.js';
import { ExchangeType, NAT_T_PORT, NotifyType } from '../../src/wire/constants.js';
import { openProtected } from '../../src/ike/protect.js';
import type { Effect } from '../../src/ike/effects.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';

const client: SideOptions = { id: 'client.example', remoteId: 'gw.example', seed: 41 };
const gateway: SideOptions = { id: 'gw.example', remoteId: 'client.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 42 };
const NEW_ADDR = '198.51.100.9';
const sendsOf = (fx: Effect[]) => fx.filter((e): e is Extract<Effect, { type: 'send' }> => e.type === 'send');

function established(mobike?: { i?: boolean; r?: boolean }): Pair {
  const p = new Pair(client, gateway);
  if (mobike?.i !== undefined) p.iCfg.mobike = mobike.i;
  if (mobike?.r !== undefined) p.rCfg.mobike = mobike.r;
  p.establish();
  expect(p.initiator.state).toBe('ESTABLISHED');
  return p;
}

const spis = (sa: IkeSa) => [Buffer.from(sa.spiI).toString('hex'), Buffer.from(sa.spiR).toString('hex')];

describe('MOBIKE (RFC 4555)', () => {
  it('is negotiated in IKE_AUTH when both ends support it, and not when either is off', () => {
    const p = established();
    expect(p.initiator.mobike).toBe(true);
    expect(p.responder!.mobike).toBe(true);
    for (const off of [{ i: false }, { r: false }]) {
      const q = established(off);
      expect(q.initiator.mobike).toBe(false);
      expect(q.responder!.mobike).toBe(false);
      expect(q.initiator.moveLocal(q.now, NEW_ADDR)).toBeUndefined(); // the daemon falls back to DPD/reauth
    }
  });

  it('the client moves: UPDATE_SA_ADDRESSES with NAT-D and COOKIE2 from the new address; the gateway follows; same SPIs', () => {
    const p = established();
    const r = p.responder!;
    const before = { i: spis(p.initiator), r: spis(r) };
    const fx = p.initiator.moveLocal(p.now, NEW_ADDR)!;
    const [req] = sendsOf(fx);
    expect(req!.from).toEqual({ addr: NEW_ADDR, port: I_ADDR.port });
    expect(req!.to).toEqual(R_ADDR);
    const msg = decodeMessage(req!.bytes);
    expect(msg.header.exchangeType).toBe(ExchangeType.INFORMATIONAL);
    expect(r.remote).toEqual(I_ADDR); // nothing moved before the gateway read it
    const rBefore = p.rEffects.length;
    const iBefore = p.iEffects.length;
    p.run(fx, 'i');
    expect(events(p.rEffects.slice(rBefore))).toContainEqual({ type: 'peer-moved', from: I_ADDR, to: { addr: NEW_ADDR, port: I_ADDR.port }, via: 'mobike', nat: { local: false, remote: false } });
    expect(events(p.iEffects.slice(iBefore))).toContainEqual({ type: 'local-moved', from: I_ADDR, to: { addr: NEW_ADDR, port: I_ADDR.port }, remote: R_ADDR, nat: { local: false, remote: false } });
    expect(r.remote).toEqual({ addr: NEW_ADDR, port: I_ADDR.port });
    expect(p.initiator.local).toEqual({ addr: NEW_ADDR, port: I_ADDR.port });
    expect({ i: spis(p.initiator), r: spis(r) }).toEqual(before);
    expect(r.state).toBe('ESTABLISHED');
    // the gateway's next request goes to the new address
    expect(sendsOf(r.liveness(p.now)).map((s) => s.to)).toEqual([{ addr: NEW_ADDR, port: I_ADDR.port }]);
  });

  it('the request carries UPDATE_SA_ADDRESSES, both NAT-D notifies and a COOKIE2, which the response echoes', () => {
    const p = established();
    const r = p.responder!;
    const [req] = sends(p.initiator.moveLocal(p.now, NEW_ADDR)!);
    // the gateway's own view of the request, opened with its keys (what the task sees)
    const answer = p.dispatcher.handleDatagram(p.now, req!, { from: { addr: NEW_ADDR, port: I_ADDR.port }, to: R_ADDR });
    const [resp] = sends(answer);
    const types = (bytes: Uint8Array, sa: IkeSa) => {
      const keys = (sa as unknown as { ctx: { keys: { in: Parameters<typeof openProtected>[1] } } }).ctx.keys.in;
      const opened = openProtected(decodeMessage(bytes), keys);
      if (!opened.ok) throw new Error('did not open');
      return opened.inner.flatMap((x) => (x.kind === 'N' ? [x.notifyType] : []));
    };
    expect(types(req!, r).sort()).toEqual([NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.UPDATE_SA_ADDRESSES, NotifyType.COOKIE2].sort());
    expect(types(resp!, p.initiator).sort()).toEqual([NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.COOKIE2].sort());
  });

  it('a forged UPDATE_SA_ADDRESSES (bad ICV) from another address is dropped and counted; the gateway stays where it was', () => {
    const p = established();
    const r = p.responder!;
    const [req] = sends(p.initiator.moveLocal(p.now, NEW_ADDR)!);
    const forged = req!.slice();
    forged[forged.length - 1] ^= 0xff;
    const fx = p.dispatcher.handleDatagram(p.now, forged, { from: { addr: '192.0.2.66', port: 500 }, to: R_ADDR });
    expect(fx).toEqual([]);
    expect(r.remote).toEqual(I_ADDR);
    expect(r.stats.integrityFailed).toBe(1);
    // the genuine one still works afterwards
    p.dispatcher.handleDatagram(p.now, req!, { from: { addr: NEW_ADDR, port: I_ADDR.port }, to: R_ADDR });
    expect(r.remote).toEqual({ addr: NEW_ADDR, port: I_ADDR.port });
  });

  it('a NAT on the new path: NAT-D redone on both ends, IKE moves to port 4500 (RFC 4555 §3.9)', () => {
    const p = established();
    const r = p.responder!;
    const privateAddr = { addr: '192.168.7.5', port: I_ADDR.port };
    const mapped = { addr: '203.0.113.7', port: 1500 };
    const [req] = sends(p.initiator.moveLocal(p.now, privateAddr.addr)!);
    const answer = p.dispatcher.handleDatagram(p.now, req!, { from: mapped, to: R_ADDR });
    expect(r.remote).toEqual(mapped);
    expect(r.nat).toEqual({ local: false, remote: true });
    const [resp] = sendsOf(answer);
    expect(resp!.to).toEqual(mapped);
    const got = p.initiator.handleDatagram(p.now, resp!.bytes, { from: R_ADDR, to: privateAddr });
    expect(events(got)).toContainEqual({ type: 'local-moved', from: I_ADDR, to: { addr: privateAddr.addr, port: NAT_T_PORT }, remote: { addr: R_ADDR.addr, port: NAT_T_PORT }, nat: { local: true, remote: false } });
    expect(p.initiator.nat).toEqual({ local: true, remote: false });
  });

  it('a response that does not echo our COOKIE2 closes the IKE SA (RFC 4555 §3.11); a gateway without MOBIKE ignores the update', () => {
    const p = established();
    const r = p.responder!;
    (r as unknown as { ctx: { mobike: boolean } }).ctx.mobike = false; // as if the gateway had not agreed
    const [req] = sends(p.initiator.moveLocal(p.now, NEW_ADDR)!);
    const answer = p.dispatcher.handleDatagram(p.now, req!, { from: { addr: NEW_ADDR, port: I_ADDR.port }, to: R_ADDR });
    expect(r.remote).toEqual(I_ADDR); // not moved
    const got = p.initiator.handleDatagram(p.now, sends(answer)[0]!, { from: R_ADDR, to: { addr: NEW_ADDR, port: I_ADDR.port } });
    expect(events(got)).toContainEqual(expect.objectContaining({ type: 'notify', notify: expect.stringContaining('COOKIE2') }));
    expect(p.initiator.state).toBe('DELETED');
  });

  it('a request in flight when the address changes is retransmitted from the new address', () => {
    const p = established();
    const dpd = sendsOf(p.initiator.liveness(p.now)); // not delivered: in flight
    expect(dpd[0]!.from).toEqual(I_ADDR);
    expect(sendsOf(p.initiator.moveLocal(p.now, NEW_ADDR)!)).toEqual([]); // queued behind it
    const again = sendsOf(p.initiator.handleTimeout(p.initiator.pollTimeout()!));
    expect(again.map((s) => s.from)).toEqual([{ addr: NEW_ADDR, port: I_ADDR.port }]);
  });
});

describe('MOBIKE and the NAT follow (RFC 7296 §2.23)', () => {
  it('an authenticated message from a new address (the peer checking a path) moves nothing; UPDATE_SA_ADDRESSES from there does', () => {
    const p = established();
    const r = p.responder!;
    const newPath = { from: { addr: NEW_ADDR, port: 4500 }, to: R_ADDR };
    (r as unknown as { ctx: { nat: object } }).ctx.nat = { local: false, remote: true }; // the peer forces UDP encapsulation (kernel-libipsec)
    const [check] = sends(p.initiator.liveness(p.now));
    const answer = p.dispatcher.handleDatagram(p.now, check!, newPath);
    expect(sendsOf(answer).map((s) => s.to)).toEqual([newPath.from]); // RFC 7296 §2.11: answered where it came from
    expect(events(answer).filter((e) => e.type === 'peer-moved')).toEqual([]);
    expect(r.remote).toEqual(I_ADDR);
    p.initiator.handleDatagram(p.now, sendsOf(answer)[0]!.bytes, { from: R_ADDR, to: I_ADDR });
    const [req] = sends(p.initiator.moveLocal(p.now, NEW_ADDR)!);
    const moved = p.dispatcher.handleDatagram(p.now, req!, newPath);
    expect(events(moved).filter((e) => e.type === 'peer-moved').map((e) => (e as { via: string }).via)).toEqual(['mobike']);
    expect(r.remote).toEqual(newPath.from);
  });
});
