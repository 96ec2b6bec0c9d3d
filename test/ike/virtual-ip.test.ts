// Virtual IPs (RFC 7296 §2.19, §3.15): a gateway leases addresses from its pools by identity and
// hands them out in CP(CFG_REPLY); the client's side of the Child SA becomes that address; a
// gateway with nothing left answers INTERNAL_ADDRESS_FAILURE and the IKE SA stands without a
// Child SA. The pool's own rules first, then real IKE SAs in memory.
import { describe, expect, it } from 'vitest';

import { AddressPool } from '../../src/ike/address-pool.js';
import type { Effect } from '../../src/ike/effects.js';
import type { SaContext } from '../../src/ike/sa-context.js';
import { acceptVirtualIps } from '../../src/ike/virtual-ip.js';
import { CfgAttributeType, CfgType } from '../../src/wire/constants.js';
import { parseSelector } from '../../src/wire/selectors.js';
import { events, failures, installs, Pair, psk, type SideOptions } from './helpers/pair.js';

const pool = (addrs: string, dns: string[] = [], subnets: string[] = []) => new AddressPool('rw', addrs, parseSelector(addrs), dns, addrs.includes('/'), subnets);

describe('an address pool', () => {
  it('a prefix hands out its hosts, not its network or broadcast address; a range every address', () => {
    const p = pool('10.3.0.0/29');
    expect(p.size).toBe(6n);
    expect(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => p.acquire(id))).toEqual(['10.3.0.1', '10.3.0.2', '10.3.0.3', '10.3.0.4', '10.3.0.5', '10.3.0.6']);
    expect(p.acquire('g')).toBeUndefined(); // every address online
    const r = pool('10.3.0.10-10.3.0.12');
    expect(['a', 'b', 'c'].map((id) => r.acquire(id))).toEqual(['10.3.0.10', '10.3.0.11', '10.3.0.12']);
    const v6 = pool('2001:db8:3::/126');
    expect([v6.family, v6.acquire('a'), v6.acquire('b'), v6.acquire('c'), v6.acquire('d')]).toEqual([6, '2001:db8:3::1', '2001:db8:3::2', '2001:db8:3::3', undefined]);
  });

  it('an identity gets its address back; a full pool takes the address released longest ago from another identity', () => {
    const p = pool('10.3.0.0/30'); // .1 and .2
    expect(p.acquire('alice')).toBe('10.3.0.1');
    expect(p.acquire('bob')).toBe('10.3.0.2');
    p.release('alice');
    expect(p.status()).toMatchObject({ size: 2, online: 1, offline: 1 });
    expect(p.acquire('alice')).toBe('10.3.0.1'); // reconnect: the same address
    expect(p.acquire('alice')).toBe('10.3.0.1'); // a second SA of alice (reauthentication) holds it too
    p.release('alice');
    expect(p.status()).toMatchObject({ online: 2, offline: 0 }); // still held once
    expect(p.acquire('carol')).toBeUndefined();
    p.release('bob');
    p.release('alice');
    expect(p.acquire('carol')).toBe('10.3.0.2'); // bob released first
    expect(p.acquire('bob')).toBe('10.3.0.1'); // bob's was taken: he gets alice's, released after his
    expect(p.acquire('alice')).toBeUndefined();
    p.release('nobody'); // unknown identities change nothing
    expect(p.status()).toMatchObject({ online: 2, offline: 0 });
  });
});

const gateway = (pools: AddressPool[]): SideOptions => ({ id: 'gw.example', remoteId: '%any', localTs: ['10.2.0.0/16'], remoteTs: ['10.3.0.0/24'], seed: 2, pools });
const client = (id: string, seed: number): SideOptions => ({ id, remoteId: 'gw.example', localTs: ['0.0.0.0/0'], remoteTs: ['10.2.0.0/16'], seed, requestVips: [4], localAuth: psk() });

describe('virtual IPs in IKE_AUTH', () => {
  it('the client gets an address and the DNS servers; both Child SA ends use that address alone as the client side', () => {
    const rw = pool('10.3.0.0/30', ['10.2.0.53']);
    const p = new Pair(client('alice.example', 1), gateway([rw]));
    p.establish();
    expect(events(p.iEffects)).toContainEqual({ type: 'virtual-ip-received', addresses: ['10.3.0.1'], dns: ['10.2.0.53'], subnets: [] });
    expect(events(p.rEffects)).toContainEqual({ type: 'virtual-ip', addresses: ['10.3.0.1'], pools: ['rw'], identity: 'alice.example' });
    const [i] = installs(p.iEffects);
    const [r] = installs(p.rEffects);
    expect([i.localTs, i.remoteTs]).toEqual([['10.3.0.1'], ['10.2.0.0/16']]);
    expect([r.localTs, r.remoteTs]).toEqual([['10.2.0.0/16'], ['10.3.0.1']]);
    // asked for, so not reported as the peer narrowing us
    expect(events(p.iEffects).find((e) => e.type === 'child-installed')).toMatchObject({ narrowed: false });
    expect(p.responder!.leasedVips).toEqual(['10.3.0.1']);
    expect(p.initiator.ownVips).toEqual({ addresses: ['10.3.0.1'], dns: ['10.2.0.53'], subnets: [] });
    expect(failures([...p.iEffects, ...p.rEffects])).toEqual([]);
  });

  it('a pool\'s subnets reach the client as INTERNAL_IP4_SUBNET and INTERNAL_IP6_SUBNET', () => {
    const rw = pool('10.3.0.0/30', [], ['10.2.0.0/16', '10.9.0.0/24', '2001:db8:2::/48']);
    const p = new Pair(client('alice.example', 1), gateway([rw]));
    p.establish();
    expect(p.initiator.ownVips).toEqual({ addresses: ['10.3.0.1'], dns: [], subnets: ['10.2.0.0/16', '10.9.0.0/24', '2001:db8:2::/48'] });
  });

  it('a pool used up: INTERNAL_ADDRESS_FAILURE, F4 on both ends, the IKE SA up without a Child SA; a Delete gives the address back', () => {
    const rw = pool('10.3.0.0/30');
    const a = new Pair(client('a.example', 1), gateway([rw]));
    a.establish();
    const b = new Pair(client('b.example', 3), gateway([rw]));
    b.establish();
    expect([a.responder!.leasedVips, b.responder!.leasedVips]).toEqual([['10.3.0.1'], ['10.3.0.2']]);
    const c = new Pair(client('c.example', 5), gateway([rw]));
    c.establish();
    expect(failures(c.rEffects)[0]).toMatchObject({ row: 'F4', message: expect.stringContaining('no virtual IP for c.example: every address is leased (rw 10.3.0.0/30: 2 of 2 online)'), evidence: { notify: 'INTERNAL_ADDRESS_FAILURE' } });
    expect(failures(c.iEffects)[0]).toMatchObject({ row: 'F4', message: expect.stringContaining('INTERNAL_ADDRESS_FAILURE'), evidence: { notify: 'INTERNAL_ADDRESS_FAILURE' } });
    expect([c.initiator.state, c.responder!.state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect([...installs(c.iEffects), ...installs(c.rEffects)]).toEqual([]);
    a.run(a.initiator.delete(a.now));
    expect(a.responder?.state ?? 'DELETED').toBe('DELETED');
    expect(rw.status()).toMatchObject({ online: 1, offline: 1 });
    const d = new Pair(client('d.example', 7), gateway([rw]));
    d.establish();
    expect(d.responder!.leasedVips).toEqual(['10.3.0.1']);
  });

  it('an IKE SA rekey keeps the lease on the new SA; only the end of the last SA releases it', () => {
    const rw = pool('10.3.0.0/30');
    const p = new Pair(client('alice.example', 1), gateway([rw]));
    p.establish();
    p.now += 1000;
    p.run(p.initiator.rekeyIke(p.now));
    const live = p.dispatcher.list().filter((sa) => sa.state === 'ESTABLISHED');
    expect(live).toHaveLength(1);
    expect(live[0]!.leasedVips).toEqual(['10.3.0.1']);
    expect(rw.status()).toMatchObject({ online: 1, offline: 0 });
    const next = p.initiator.successor ?? p.initiator;
    p.run(next.delete(p.now));
    expect(rw.status()).toMatchObject({ online: 0, offline: 1 });
  });

  it('a peer that asks for no address on a pool connection gets none: its own selectors, as a site-to-site peer', () => {
    const rw = pool('10.3.0.0/30');
    const p = new Pair({ ...client('site.example', 1), requestVips: undefined, localTs: ['10.3.0.0/28'] }, gateway([rw]));
    p.establish();
    expect(installs(p.rEffects)[0]!.remoteTs).toEqual(['10.3.0.0/28']);
    expect(rw.status().online).toBe(0);
  });
});

describe('a CFG_REPLY\'s subnets (RFC 7296 §3.15.1)', () => {
  it('INTERNAL_IP4_SUBNET (address and netmask) and INTERNAL_IP6_SUBNET (address and length) become CIDRs; a netmask of holes is ignored', () => {
    const ctx = { cfg: { requestVips: [4], children: [] } } as unknown as SaContext;
    const attr = (type: number, bytes: number[]) => ({ type, value: Uint8Array.from(bytes) });
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 5, ...new Array<number>(10).fill(0), 48];
    const out: Effect[] = [];
    const ok = acceptVirtualIps(ctx, [{ kind: 'CP', critical: false, cfgType: CfgType.CFG_REPLY, attributes: [
      attr(CfgAttributeType.INTERNAL_IP4_ADDRESS, [10, 3, 0, 7]),
      attr(CfgAttributeType.INTERNAL_IP4_SUBNET, [10, 0, 0, 9, 255, 255, 255, 0]),
      attr(CfgAttributeType.INTERNAL_IP4_SUBNET, [10, 1, 0, 0, 255, 0, 255, 0]),
      attr(CfgAttributeType.INTERNAL_IP4_SUBNET, [0, 0, 0, 0, 0, 0, 0, 0]),
      attr(CfgAttributeType.INTERNAL_IP6_SUBNET, v6),
    ] }], out);
    expect(ok).toBe(true);
    expect(ctx.ownVips).toEqual({ addresses: ['10.3.0.7'], dns: [], subnets: ['10.0.0.0/24', '0.0.0.0/0', '2001:db8:5::/48'] });
    expect(events(out)).toContainEqual({ type: 'virtual-ip-received', addresses: ['10.3.0.7'], dns: [], subnets: ['10.0.0.0/24', '0.0.0.0/0', '2001:db8:5::/48'] });
  });
});
