// EAP in IKE_AUTH (RFC 7296 §2.16) between two tsvpn IKE SAs in memory: the gateway proves
// itself with a certificate, the client with EAP-Identity + EAP-MSCHAPv2; both AUTH payloads are
// then keyed with the MSK, and the Child SA and virtual IP come with the last exchange.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressPool } from '../../src/ike/address-pool.js';
import type { LocalAuth, RemoteAuth } from '../../src/ike/config.js';
import { parseSelector } from '../../src/wire/selectors.js';
import fc from 'fast-check';
import { MsChapV2Peer, MsChapV2Server } from '../../src/ike/auth/eap-mschapv2.js';
import { encodeEap } from '../../src/wire/eap.js';
import { seededRandom } from './helpers/random.js';
import { config, events, failures, installs, I_ADDR, Pair, R_ADDR, sends, type SideOptions } from './helpers/pair.js';
import { decodeMessage } from '../../src/wire/message.js';
import { makePki, type Pki } from './helpers/pki.js';

let pki: Pki;
let gwAuth: LocalAuth;
let trust: RemoteAuth;
beforeAll(() => {
  pki = makePki();
  const ca = pki.ca('ca');
  const gw = pki.leaf('ca', 'ecdsa', 'gw.example');
  gwAuth = { method: 'pubkey', key: gw.key, certChain: [gw.cert] };
  trust = { method: 'pubkey', trustAnchors: [ca] };
});
afterAll(() => pki.cleanup());

const utf8 = (s: string) => new TextEncoder().encode(s);
const users = () => new Map([['alice', utf8('alice-Secret-1')], ['bob', utf8('bob-Secret-2')]]);
const client = (user: string, password: string, seed = 1): SideOptions => ({
  id: '198.51.100.1', remoteId: 'gw.example', localTs: ['0.0.0.0/0'], remoteTs: ['10.2.0.0/16'], seed, requestVips: [4],
  localAuth: { method: 'eap-mschapv2', eapId: user, password: utf8(password) }, remoteAuth: trust,
});
const gateway = (pool: AddressPool): SideOptions => ({
  id: 'gw.example', remoteId: '%any', localTs: ['10.2.0.0/16'], remoteTs: ['10.3.0.0/24'], seed: 2, pools: [pool],
  localAuth: gwAuth, remoteAuth: { method: 'eap-mschapv2', users: users() },
});
const pool = () => new AddressPool('rw', '10.3.0.0/29', parseSelector('10.3.0.0/29'), ['10.2.0.53'], true);

describe('EAP-MSCHAPv2 in IKE_AUTH (tsvpn to tsvpn)', () => {
  it('the right password: both ends established, the user is the peer identity, a virtual IP and the Child SA', () => {
    const p = new Pair(client('alice', 'alice-Secret-1'), gateway(pool()));
    p.establish();
    expect(failures([...p.iEffects, ...p.rEffects])).toEqual([]);
    expect([p.initiator.state, p.responder!.state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect(events(p.rEffects)).toContainEqual({ type: 'eap', method: 'EAP-MSCHAPv2', user: 'alice', result: 'success' });
    expect(events(p.iEffects)).toContainEqual({ type: 'eap', method: 'EAP-MSCHAPv2', user: 'alice', result: 'success' });
    expect(events(p.rEffects).find((e) => e.type === 'ike-established')).toMatchObject({ remoteId: 'alice' });
    expect(events(p.iEffects).find((e) => e.type === 'ike-established')).toMatchObject({ remoteId: 'gw.example' });
    expect(events(p.iEffects)).toContainEqual({ type: 'virtual-ip-received', addresses: ['10.3.0.1'], dns: ['10.2.0.53'], subnets: [] });
    const [i] = installs(p.iEffects);
    const [r] = installs(p.rEffects);
    expect([i.localTs, i.remoteTs, r.localTs, r.remoteTs]).toEqual([['10.3.0.1'], ['10.2.0.0/16'], ['10.2.0.0/16'], ['10.3.0.1']]);
    // IKE_SA_INIT, then IKE_AUTH: the first, Identity, Challenge/Response, Success/ack, AUTH with the MSK: 5 requests
    expect(p.iEffects.filter((e) => e.type === 'send').length).toBe(6);
    // RFC 4555 §3.2: a road warrior on EAP roams too
    expect([p.initiator.mobike, p.responder!.mobike]).toEqual([true, true]);
  });

  it('MOBIKE is off when either end turns it off, with EAP as without', () => {
    for (const [ci, gi] of [[false, true], [true, false]]) {
      const p = new Pair({ ...client('alice', 'alice-Secret-1'), mobike: ci }, { ...gateway(pool()), mobike: gi });
      p.establish();
      expect([p.initiator.state, p.responder!.state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
      expect([p.initiator.mobike, p.responder!.mobike]).toEqual([false, false]);
    }
  });

  it('a wrong password: F3 on both ends naming EAP-MSCHAPv2 and its result, never the password; no SA', () => {
    const p = new Pair(client('alice', 'not-her-password'), gateway(pool()));
    p.establish();
    const [gw] = failures(p.rEffects);
    expect(gw).toMatchObject({ row: 'F3', message: expect.stringContaining('EAP-MSCHAPv2: user alice: wrong password'), evidence: { check: 'eap', eap: { method: 'EAP-MSCHAPv2', user: 'alice', result: 'user alice: wrong password' } } });
    const [cl] = failures(p.iEffects);
    expect(cl).toMatchObject({ row: 'F3', message: expect.stringContaining('EAP-MSCHAPv2 failure E=691 from the gateway'), evidence: { check: 'eap', eap: { method: 'EAP-MSCHAPv2', user: 'alice' } } });
    const all = JSON.stringify([...p.iEffects, ...p.rEffects].filter((e) => e.type === 'event'));
    expect(all).not.toContain('not-her-password');
    expect(all).not.toContain('alice-Secret-1');
    expect([p.initiator.state, p.responder?.state ?? 'FAILED']).toEqual(['FAILED', 'FAILED']);
    expect([...installs(p.iEffects), ...installs(p.rEffects)]).toEqual([]);
  });

  it('an unknown user: the gateway says so, the client sees E=691', () => {
    const p = new Pair(client('mallory', 'whatever'), gateway(pool()));
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', evidence: { eap: { result: 'user mallory: unknown user' } } });
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F3', message: expect.stringContaining('E=691') });
  });

  it('a user name with a line break is shown escaped: no forged log line', () => {
    const p = new Pair(client('x\nF3: forged', 'whatever'), gateway(pool()));
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', evidence: { eap: { result: 'user x\\nF3: forged: unknown user' } } });
    expect(failures(p.rEffects)[0].message).not.toContain('\n');
  });

  it('two users at once get distinct addresses from one pool', () => {
    const rw = pool();
    const a = new Pair(client('alice', 'alice-Secret-1', 1), gateway(rw));
    const b = new Pair(client('bob', 'bob-Secret-2', 3), gateway(rw));
    a.establish();
    b.establish();
    expect([a.responder!.leasedVips, b.responder!.leasedVips]).toEqual([['10.3.0.1'], ['10.3.0.2']]);
  });

  it('a gateway with an EAP and a certificate connection on one path: each client gets its own, and the certificate client is asked for its certificate', () => {
    const rw = pool();
    const certConn = { ...config({ ...gateway(rw), localAuth: gwAuth, remoteAuth: trust }, R_ADDR, I_ADDR), name: 'cert', remoteAddrAny: true };
    const eap = new Pair(client('alice', 'alice-Secret-1'), gateway(rw), undefined, undefined, [certConn]);
    eap.establish();
    expect([eap.initiator.state, eap.responder?.name]).toEqual(['ESTABLISHED', 'test']);
    const leaf = pki.leaf('ca', 'ecdsa', 'rw3.example');
    const certClient: SideOptions = { ...client('-', '-', 5), id: 'rw3.example', localAuth: { method: 'pubkey', key: leaf.key, certChain: [leaf.cert] } };
    const cert = new Pair(certClient, gateway(rw), undefined, undefined, [certConn]);
    cert.establish();
    expect(failures([...cert.iEffects, ...cert.rEffects])).toEqual([]);
    expect([cert.initiator.state, cert.responder?.name, cert.responder?.leasedVips]).toEqual(['ESTABLISHED', 'cert', ['10.3.0.2']]);
    // RFC 7296 §3.7: the IKE_SA_INIT response asks for certificates although the first candidate takes EAP
    const initResponse = decodeMessage(sends(cert.rEffects)[0]!);
    expect(initResponse.payloads.map((x) => x.kind)).toContain('CERTREQ');
  });

  it('a client that asks for EAP meets a gateway that does not use it: F3 with what is missing', () => {
    const g = { ...gateway(pool()), remoteAuth: trust };
    const p = new Pair(client('alice', 'alice-Secret-1'), g);
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', message: expect.stringContaining('no AUTH payload (the peer asks for EAP') });
    expect(p.initiator.state).toBe('FAILED');
  });

  it('a client that goes quiet in the middle of EAP: the gateway drops the half-open SA after 30 s from the last round', () => {
    // deliver IKE_SA_INIT, the first IKE_AUTH and the EAP-Identity round; then the client is gone
    const p = new Pair(client('alice', 'alice-Secret-1'), gateway(pool()), (m) => (m.from === 'i' && m.index >= 6 ? 'drop' : 'deliver'));
    p.establish();
    expect(p.responder!.state).toBe('CONNECTING');
    const deadline = p.dispatcher.pollTimeout()!;
    expect(deadline - p.now).toBeLessThanOrEqual(30_000);
    p.now = deadline;
    p.run(p.dispatcher.handleTimeout(p.now), 'r');
    expect(events(p.rEffects)).toContainEqual(expect.objectContaining({ type: 'ike-deleted', reason: 'half-open-timeout' }));
  });

  it('both ends of the method take any bytes from the other without throwing, and never succeed on them', () => {
    const identity = (id: number) => encodeEap({ code: 2, id, type: 1, data: utf8('alice') });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.boolean(), (a, b, afterIdentity) => {
        const server = new MsChapV2Server(users(), seededRandom(7), 'gw.example');
        const first = server.start();
        if (afterIdentity) server.receive(identity(first[1]!));
        for (const x of [a, b]) expect(server.receive(x).kind).not.toBe('success');
        const peer = new MsChapV2Peer('alice', utf8('alice-Secret-1'), seededRandom(8));
        for (const x of [a, b]) expect(peer.receive(x).kind).not.toBe('success');
      }),
      { seed: 14, numRuns: 2000 },
    );
  });
});
