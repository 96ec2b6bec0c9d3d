// A gateway's responder with several connections on one path (src/ike/select-config.ts):
// IKE_SA_INIT tries each connection's proposals, IKE_AUTH picks by the peer's IDi (and IDr),
// and the chosen connection's PSK authenticates the peer. Two real IKE SAs in memory.
import { describe, expect, it } from 'vitest';
import type { IkeSaConfig } from '../../src/ike/config.js';
import { IkeDispatcher } from '../../src/ike/dispatcher.js';
import type { Effect } from '../../src/ike/effects.js';
import { IkeSa } from '../../src/ike/ike-sa.js';
import { config, I_ADDR, psk, R_ADDR, type SideOptions } from './helpers/pair.js';
import { seededRandom } from './helpers/random.js';

/** A gateway connection: `name`, its peer's id, its PSK; %any address unless `exact`. */
function conn(name: string, o: Partial<SideOptions> & { secret: string; exact?: boolean }, seed: number): IkeSaConfig {
  const c = config({ id: o.id ?? 'gw.example', remoteId: o.remoteId, ike: o.ike, localAuth: psk(o.secret), seed }, R_ADDR, I_ADDR);
  return { ...c, name, ...(o.exact ? {} : { remoteAddrAny: true }) };
}

/** Run one initiator against a dispatcher serving `candidates`; the responder SA and all its effects. */
function connect(candidates: IkeSaConfig[], i: SideOptions): { responder: IkeSa | undefined; initiator: IkeSa; rFx: Effect[]; iFx: Effect[] } {
  const dispatcher = new IkeDispatcher({ configFor: () => candidates, random: seededRandom(99) });
  const initiator = IkeSa.initiator(config(i, I_ADDR, R_ADDR));
  const rFx: Effect[] = [];
  const iFx: Effect[] = [];
  let toR = initiator.initiate(0);
  for (let round = 0; round < 10 && toR.length > 0; round++) {
    const toI: Effect[] = [];
    for (const e of toR) if (e.type === 'send') toI.push(...dispatcher.handleDatagram(0, e.bytes, { from: e.from, to: e.to }));
    rFx.push(...toI);
    toR = [];
    for (const e of toI) if (e.type === 'send') toR.push(...initiator.handleDatagram(0, e.bytes, { from: e.from, to: e.to }));
    iFx.push(...toR);
  }
  return { responder: dispatcher.list()[0], initiator, rFx, iFx };
}

const events = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'event' ? [{ ...e.event, conn: e.conn }] : []));

describe('a responder with several connections on one path', () => {
  const gateway = () => [
    conn('branch-a', { remoteId: 'a.example', secret: 'secret of a' }, 1),
    conn('branch-b', { remoteId: 'b.example', secret: 'secret of b' }, 2),
    conn('roads', { remoteId: '*.road.example', secret: 'secret of the roads' }, 3),
  ];

  it('two %any peers with different IDs select different connections, each proven with its own PSK', () => {
    for (const [id, secret, name] of [['a.example', 'secret of a', 'branch-a'], ['b.example', 'secret of b', 'branch-b'], ['x.road.example', 'secret of the roads', 'roads']] as const) {
      const { responder, initiator, rFx } = connect(gateway(), { id, remoteId: 'gw.example', localAuth: psk(secret), seed: 10 });
      expect(initiator.state, id).toBe('ESTABLISHED');
      expect(responder?.state, id).toBe('ESTABLISHED');
      expect(responder?.name, id).toBe(name);
      // the choice and why are reported, and every event from then on names the connection
      const ev = events(rFx);
      const at = ev.findIndex((e) => e.type === 'config-selected');
      expect(ev.slice(at).every((e) => e.conn === name), id).toBe(true);
      expect(ev.some((e) => e.type === 'ike-established' && e.conn === name), id).toBe(true);
      const sel = ev[at];
      expect(sel, id).toMatchObject({ name });
      expect((sel as { why: string }).why).toContain(`IDi ${id}`);
    }
  });

  it('a peer with the right ID but another connection\'s PSK fails F3 (the chosen connection\'s key is the one checked)', () => {
    const { responder, initiator, rFx } = connect(gateway(), { id: 'a.example', localAuth: psk('secret of b'), seed: 11 });
    expect(initiator.state).toBe('FAILED');
    expect(responder?.state ?? 'FAILED').toBe('FAILED');
    const f = events(rFx).find((e) => e.type === 'failure');
    expect(f).toMatchObject({ row: 'F3', evidence: { check: 'psk-mismatch' }, unauthenticated: { from: I_ADDR } });
  });

  it('an identity no connection accepts is refused with AUTHENTICATION_FAILED, naming what each would take', () => {
    const { initiator, rFx } = connect(gateway(), { id: 'stranger.example', localAuth: psk('secret of a'), seed: 12 });
    expect(initiator.state).toBe('FAILED');
    const f = events(rFx).find((e) => e.type === 'failure');
    expect(f).toMatchObject({ row: 'F3', evidence: { check: 'id-mismatch' } });
    expect((f as { evidence: { detail: string } }).evidence.detail).toContain('stranger.example');
    expect((f as { evidence: { detail: string } }).evidence.detail).toContain('a.example for branch-a');
  });

  it('IKE_SA_INIT takes the first connection whose proposals fit; IKE_AUTH then picks only among those', () => {
    const cands = [
      conn('modern', { remoteId: '%any', secret: 'modern secret', ike: ['aes256gcm16-prfsha256-x25519'] }, 4),
      conn('legacy', { remoteId: 'old.example', secret: 'legacy secret', ike: ['aes128-sha256-modp2048'] }, 5),
    ];
    const legacy = connect(cands, { id: 'old.example', localAuth: psk('legacy secret'), ike: ['aes128-sha256-modp2048'], seed: 13 });
    expect(legacy.responder?.name).toBe('legacy');
    expect(legacy.responder?.state).toBe('ESTABLISHED');
    // old.example offering the modern proposal: only 'modern' negotiated it, and it takes any ID, so its PSK decides
    const modern = connect(cands, { id: 'old.example', localAuth: psk('modern secret'), seed: 14 });
    expect(modern.responder?.name).toBe('modern');
    expect(modern.responder?.state).toBe('ESTABLISHED');
    // the connection that matches the address better negotiates even when only a worse one fits
    // the KE the initiator sent: INVALID_KE_PAYLOAD for its group, then it is this connection's SA
    const byAddr = [
      conn('this-addr', { remoteId: '%any', secret: 'exact secret', ike: ['aes128gcm16-prfsha256-ecp256'], exact: true }, 16),
      conn('any-addr', { remoteId: '%any', secret: 'any secret', ike: ['aes256gcm16-prfsha256-x25519'] }, 17),
    ];
    const exact = connect(byAddr, { id: 'p.example', localAuth: psk('exact secret'), ike: ['aes256gcm16-prfsha256-x25519', 'aes128gcm16-prfsha256-ecp256'], seed: 21 });
    expect(exact.responder?.name).toBe('this-addr');
    expect(exact.responder?.state).toBe('ESTABLISHED');
    expect(exact.responder?.proposal).toBe('aes128gcm16-prfsha256-ecp256');
    // proposals no connection has: NO_PROPOSAL_CHOSEN, and the F2 evidence lists every connection's
    const none = connect(cands, { id: 'old.example', localAuth: psk('legacy secret'), ike: ['aes128gcm16-prfsha384-ecp384'], seed: 15 });
    const f = events(none.rFx).find((e) => e.type === 'failure');
    expect(f).toMatchObject({ row: 'F2', evidence: { ours: ['aes256gcm16-prfsha256-x25519', 'aes128-sha256-prfsha256-modp2048'] } });
  });

  it('an exact address beats %any, an exact ID beats a pattern beats %any; IDr picks among our identities', () => {
    const byAddr = [conn('any-addr', { remoteId: '%any', secret: 's1' }, 6), conn('this-addr', { remoteId: '%any', secret: 's2', exact: true }, 7)];
    expect(connect(byAddr, { id: 'p.example', localAuth: psk('s2'), seed: 16 }).responder?.name).toBe('this-addr');
    const byId = [conn('anyone', { remoteId: '%any', secret: 's1' }, 8), conn('pattern', { remoteId: '*.example', secret: 's2' }, 9), conn('exact', { remoteId: 'p.example', secret: 's3' }, 10)];
    expect(connect(byId, { id: 'p.example', localAuth: psk('s3'), seed: 17 }).responder?.name).toBe('exact');
    expect(connect(byId, { id: 'q.example', localAuth: psk('s2'), seed: 18 }).responder?.name).toBe('pattern');
    expect(connect(byId, { id: 'q.other', localAuth: psk('s1'), seed: 19 }).responder?.name).toBe('anyone');
    // RFC 7296 §2.15: IDr says which of our identities the initiator wants
    const byIdr = [conn('gw-one', { id: 'one.gw.example', remoteId: '%any', secret: 's1' }, 11), conn('gw-two', { id: 'two.gw.example', remoteId: '%any', secret: 's2' }, 12)];
    const two = connect(byIdr, { id: 'p.example', remoteId: 'two.gw.example', localAuth: psk('s2'), seed: 20 });
    expect(two.responder?.name).toBe('gw-two');
    expect(two.initiator.state).toBe('ESTABLISHED');
  });
});
