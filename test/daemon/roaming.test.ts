// When a client moves (src/daemon/roaming.ts): the kernel's source towards the peer changes
// and the sockets follow, the IKE SA is moved with MOBIKE, or the connection reauthenticates
// without it. An address chosen in peer.json that is not the kernel's choice (one of several
// on a host, each with its own tunnel) stays while it exists.
import { describe, expect, it } from 'vitest';
import { Roaming, type RoamingHost } from '../../src/daemon/roaming.js';
import { silentLogger } from '../../src/daemon/log.js';
import type { Effect } from '../../src/ike/effects.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import { I_ADDR, Pair, R_ADDR } from '../ike/helpers/pair.js';

const NEW = '198.51.100.9';

function roaming(o: { source: string | undefined; here: string[]; sas?: IkeSa[] }) {
  const seen = { rebound: [] as string[], applied: [] as Effect[][], reauth: 0, closed: 0 };
  const host: RoamingHost = {
    peer: R_ADDR.addr,
    source: () => o.source,
    watch: () => ({ close: () => void seen.closed++ }),
    hasAddress: (a) => o.here.includes(a),
    rebind: (a) => void seen.rebound.push(a),
    ikeSas: () => o.sas ?? [],
    apply: (_sa, fx) => void seen.applied.push(fx),
    reauthenticate: () => void seen.reauth++,
    now: () => 0,
    log: silentLogger,
  };
  return { r: new Roaming(host, I_ADDR.addr), seen };
}

function established(mobike: boolean): IkeSa {
  const p = new Pair({ id: 'c.example', remoteId: 'g.example', seed: 51 }, { id: 'g.example', remoteId: 'c.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 52 });
  p.rCfg.mobike = mobike;
  p.establish();
  return p.initiator;
}

describe('roaming: when the client moves', () => {
  it('the kernel\'s source towards the peer changed: sockets rebound, the IKE SA sends UPDATE_SA_ADDRESSES from there', () => {
    const o = { source: I_ADDR.addr as string | undefined, here: [I_ADDR.addr], sas: [established(true)] };
    const { r, seen } = roaming(o);
    r.check();
    expect(seen.rebound).toEqual([]); // nothing changed
    o.source = undefined; // the address went, no route yet
    o.here = [];
    r.check();
    expect(seen.rebound).toEqual([]);
    o.source = NEW;
    o.here = [NEW];
    r.check();
    expect(seen.rebound).toEqual([NEW]);
    expect(r.local).toBe(NEW);
    expect(seen.applied.flat().filter((e) => e.type === 'send').map((e) => (e as Extract<Effect, { type: 'send' }>).from.addr)).toEqual([NEW]);
    expect(seen.reauth).toBe(0);
    r.close();
    expect(seen.closed).toBe(1);
  });

  it('without MOBIKE the connection reauthenticates from the new address', () => {
    const o = { source: I_ADDR.addr, here: [I_ADDR.addr], sas: [established(false)] };
    const { r, seen } = roaming(o);
    o.source = NEW;
    r.check();
    expect(seen.rebound).toEqual([NEW]);
    expect(seen.applied).toEqual([]);
    expect(seen.reauth).toBe(1);
  });

  it('an address of several that is not the kernel\'s choice stays while it exists, and follows the kernel once it is gone', () => {
    const o = { source: '198.51.100.11', here: ['198.51.100.11', I_ADDR.addr] };
    const { r, seen } = roaming(o);
    r.check();
    expect(seen.rebound).toEqual([]);
    o.here = ['198.51.100.11'];
    r.check();
    expect(seen.rebound).toEqual(['198.51.100.11']);
  });

  it('sockets that cannot be reopened leave everything as it was', () => {
    const o = { source: I_ADDR.addr, here: [I_ADDR.addr] };
    const { r } = roaming(o);
    const failing = r as unknown as { host: RoamingHost };
    failing.host.rebind = () => {
      throw new Error('EADDRNOTAVAIL');
    };
    o.source = NEW;
    r.check();
    expect(r.local).toBe(I_ADDR.addr);
  });
});
