// toIkeSaConfig drives the real IKE state machine: two PeerConfigs (examples/left.json and
// examples/right.json, a %any responder, certificate peers) establish an IKE SA and a Child SA
// in memory, with what an operator checks: both ESTABLISHED, mirrored SPIs and keys, selectors.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { disposePeerConfig, toIkeSaConfig } from '../../src/config/ike-config.js';
import { loadPeerFile, parsePeerConfig } from '../../src/config/load.js';
import type { PeerConfig } from '../../src/config/types.js';
import type { Endpoint, IkeSaConfig } from '../../src/ike/config.js';
import { IkeDispatcher } from '../../src/ike/dispatcher.js';
import type { Effect } from '../../src/ike/effects.js';
import { IkeSa, type Path } from '../../src/ike/ike-sa.js';
import { failures, installs } from '../ike/helpers/pair.js';
import { makePki, type Pki } from '../ike/helpers/pki.js';
import { seededRandom } from '../ike/helpers/random.js';
import { example, EXAMPLE_PSK, tempDir, type TempDir } from './fixtures.js';

const rt = (seed: number, extra: { remote?: Endpoint; local?: Endpoint } = {}) => ({ random: seededRandom(seed), wallClock: () => Date.now(), ...extra });

/**
 * test/ike/helpers/pair.ts builds its IkeSaConfigs from its own options; this is the same
 * back-to-back delivery for configurations that already exist: the initiator's sends go to a
 * dispatcher (as in the daemon), whose configFor resolves the responder's PeerConfig per path.
 */
function handshake(initiator: IkeSaConfig, responder: PeerConfig, seed: number) {
  const sa = IkeSa.initiator(initiator);
  const seen: Path[] = [];
  const dispatcher = new IkeDispatcher({
    configFor: (path) => (seen.push(path), [toIkeSaConfig(responder, rt(seed, { remote: path.from, local: path.to }))]),
    random: seededRandom(seed + 1),
  });
  const iFx: Effect[] = [];
  const rFx: Effect[] = [];
  let toR = sa.initiate(0);
  iFx.push(...toR);
  for (let round = 0; round < 20 && toR.some((e) => e.type === 'send'); round++) {
    const toI: Effect[] = [];
    for (const e of toR) if (e.type === 'send') toI.push(...dispatcher.handleDatagram(0, e.bytes, { from: e.from, to: e.to }));
    rFx.push(...toI);
    toR = [];
    for (const e of toI) if (e.type === 'send') toR.push(...sa.handleDatagram(0, e.bytes, { from: e.from, to: e.to }));
    iFx.push(...toR);
  }
  return { initiator: sa, responder: dispatcher.list()[0], iFx, rFx, seen };
}

function expectTunnel(h: ReturnType<typeof handshake>, left: PeerConfig, right: PeerConfig) {
  expect(failures([...h.iFx, ...h.rFx])).toEqual([]);
  expect(h.initiator.state).toBe('ESTABLISHED');
  expect(h.responder?.state).toBe('ESTABLISHED');
  const [a] = installs(h.iFx);
  const [b] = installs(h.rFx);
  expect(a.spiOut).toBe(b.spiIn);
  expect(a.spiIn).toBe(b.spiOut);
  expect(a.keysOut).toEqual(b.keysIn);
  expect(a.keysIn).toEqual(b.keysOut);
  // the selectors the operator wrote, on both ends
  expect(a.localTs).toEqual(left.local.tsText);
  expect(a.remoteTs).toEqual(left.remote.tsText);
  expect(b.localTs).toEqual(right.local.tsText);
  expect(b.remoteTs).toEqual(right.remote.tsText);
  expect(a.replayWindow).toBe(left.child.replayWindow);
  expect(a.mode).toBe(left.child.mode);
  return { a, b };
}

describe('toIkeSaConfig', () => {
  it('maps the example to the IKE SA configuration (ids, endpoints, one child, initial contact)', () => {
    const p = loadPeerFile('examples/left.json');
    const c = toIkeSaConfig(p, rt(1));
    expect(c).toMatchObject({
      name: 'left',
      local: { addr: '198.51.100.1', port: 500 },
      remote: { addr: '198.51.100.2', port: 500 },
      localId: 'left.example',
      remoteId: 'right.example',
      retransmit: p.retransmit,
      initialContact: true,
      rekeyTime: 4 * 3600,
    });
    expect(c.children).toHaveLength(1);
    expect(c.children[0]).toMatchObject({ name: 'left', mode: 'tunnel', replayWindow: 1024, rekeyTime: 3600, localTs: p.local.ts, remoteTs: p.remote.ts, espProposals: p.child.proposals });
    expect(toIkeSaConfig(loadPeerFile('examples/right.json'), rt(2)).initialContact).toBe(false);
  });

  it('ike/child life, rand and ike.reauth reach the IKE SA and Child SA lifetimes (swanctl life_time, rand_time, reauth_time)', () => {
    const p = loadPeerFile('examples/left.json');
    const c = toIkeSaConfig({ ...p, ike: { ...p.ike, rekeyS: 20, lifeS: 60, randS: 2, reauthS: 90 }, child: { ...p.child, rekeyS: 5, lifeS: 40, randS: 1 } }, rt(1));
    expect(c).toMatchObject({ rekeyTime: 20, lifeTime: 60, randTime: 2, reauthTime: 90 });
    expect(toIkeSaConfig(p, rt(1)).reauthTime).toBe(0); // off unless asked for, as swanctl
    expect(c.children[0]).toMatchObject({ rekeyTime: 5, lifeTime: 40, randTime: 1 });
  });

  it('a %any peer takes the runtime endpoint', () => {
    const p = loadPeerFile('examples/responder-any.json', { TSVPN_PSK: 'x' });
    expect(toIkeSaConfig(p, rt(1, { remote: { addr: '198.51.100.7', port: 4500 } })).remote).toEqual({ addr: '198.51.100.7', port: 4500 });
  });

  it('disposePeerConfig zeroes the PSK the IKE SA would use', () => {
    const p = loadPeerFile('examples/left.json');
    const c = toIkeSaConfig(p, rt(1));
    disposePeerConfig(p);
    expect(c.localAuth.method === 'psk' && c.localAuth.psk.every((b) => b === 0)).toBe(true);
  });
});

describe('two PeerConfigs establish an IKE SA and a Child SA', () => {
  it('examples/left.json initiates to examples/right.json (PSK)', () => {
    const left = loadPeerFile('examples/left.json');
    const right = loadPeerFile('examples/right.json');
    const h = handshake(toIkeSaConfig(left, rt(11)), right, 21);
    expectTunnel(h, left, right);
    expect(h.initiator.proposal).toBe(left.ike.proposalText[0]);
    expect(h.initiator.remoteId).toBe('right.example');
    expect(h.responder?.remoteId).toBe('left.example');
  });

  it('a %any responder learns the initiator from the datagram and accepts its identity', () => {
    const gw = loadPeerFile('examples/responder-any.json', { TSVPN_PSK: EXAMPLE_PSK });
    const j = example();
    j.remote.id = 'gw.example';
    const left = parsePeerConfig(j, '.', {});
    const h = handshake(toIkeSaConfig(left, rt(31)), gw, 41);
    expectTunnel(h, left, gw);
    expect(h.seen[0].from).toEqual({ addr: '198.51.100.1', port: 500 });
    expect(h.responder?.remote).toEqual({ addr: '198.51.100.1', port: 500 });
    expect(h.responder?.remoteId).toBe('left.example');
  });

  it('different PSKs on the two ends: F3 on the responder, nothing installed', () => {
    const left = parsePeerConfig({ ...example(), psk: 'not-the-same-secret' }, '.', {});
    const right = loadPeerFile('examples/right.json');
    const h = handshake(toIkeSaConfig(left, rt(51)), right, 61);
    expect(failures(h.rFx)[0]).toMatchObject({ row: 'F3', evidence: { check: 'psk-mismatch' } });
    expect(installs(h.rFx)).toEqual([]);
  });

  describe('certificates from peer.json files', () => {
    let pki: Pki;
    let tmp: TempDir;
    beforeAll(() => {
      pki = makePki();
      tmp = tempDir();
      const pem = (der: Uint8Array) => new X509Certificate(der).toString();
      const ca = pki.ca('ca');
      tmp.write('ca.pem', pem(ca));
      for (const [name, kind] of [['left', 'ed25519'], ['right', 'rsa']] as const) {
        const leaf = pki.leaf('ca', kind, `${name}.example`);
        tmp.write(`${name}.pem`, pem(leaf.cert));
        tmp.write(`${name}.key`, leaf.key.export({ format: 'pem', type: 'pkcs8' }) as string);
      }
    });
    afterAll(() => {
      pki?.cleanup();
      tmp?.remove();
    });

    it('pubkey on both ends (Ed25519 and RSA leaves, one CA)', () => {
      const side = (me: string, peer: string, lts: string, rts: string, addr: string, peerAddr: string) =>
        parsePeerConfig(
          {
            name: me,
            local: { addr, id: `${me}.example`, auth: 'pubkey', ts: [lts], cert: `${me}.pem`, key: `${me}.key` },
            remote: { addr: peerAddr, id: `${peer}.example`, auth: 'pubkey', ts: [rts], ca: 'ca.pem' },
            ike: { proposals: ['aes256gcm16-prfsha384-ecp384'] },
            child: { proposals: ['chacha20poly1305'] },
          },
          tmp.dir,
          {},
        );
      const left = side('left', 'right', '203.0.113.0/25', '203.0.113.128/25[tcp/443]', '198.51.100.1', '198.51.100.2');
      const right = side('right', 'left', '203.0.113.128/25[tcp/443]', '203.0.113.0/25', '198.51.100.2', '198.51.100.1');
      const h = handshake(toIkeSaConfig(left, rt(71)), right, 81);
      const { a } = expectTunnel(h, left, right);
      expect(a.remoteTs).toEqual(['203.0.113.128/25[tcp/443]']);
      expect(h.responder?.remoteId).toBe('left.example');
    });
  });
});
