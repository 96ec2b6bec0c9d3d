// IKE SA + first Child SA established end to end, for a matrix of IKE and ESP proposals,
// with PSK authentication. Asserts what an operator would check: both sides ESTABLISHED with
// the same proposal, and each side's outbound Child SA keys and SPI are the other's inbound.
import { describe, it, expect } from 'vitest';
import { Pair, installs, events, failures } from './helpers/pair.js';
import { formatProposal, parseProposal } from '../../src/crypto/proposal.js';

const IKE = [
  'aes256gcm16-prfsha256-x25519',
  'aes128gcm16-prfsha256-ecp256',
  'chacha20poly1305-prfsha256-x25519',
  'aes256-sha256-modp2048',
  'aes256gcm16-prfsha384-ecp384',
  'aes128-sha1-modp2048',
];
const ESP = ['aes256gcm16', 'aes128gcm16', 'chacha20poly1305', 'aes256-sha256', 'aes256gcm16-x25519'];

function establish(ike: string, esp: string, seed: number) {
  const pair = new Pair(
    { id: 'moon.example', remoteId: 'sun.example', ike: [ike], esp: [esp], seed },
    { id: 'sun.example', remoteId: 'moon.example', ike: [ike], esp: [esp], localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: seed + 1 },
  );
  pair.establish();
  return pair;
}

function expectMirrored(pair: Pair) {
  const [a] = installs(pair.iEffects);
  const [b] = installs(pair.rEffects);
  expect(a && b).toBeTruthy();
  expect(a.spiOut).toBe(b.spiIn);
  expect(a.spiIn).toBe(b.spiOut);
  expect(a.keysOut).toEqual(b.keysIn);
  expect(a.keysIn).toEqual(b.keysOut);
  expect(a.keysOut.encr).not.toEqual(a.keysIn.encr);
  expect(a.proposal).toBe(b.proposal);
  expect(a.localTs).toEqual(b.remoteTs);
  expect(a.remoteTs).toEqual(b.localTs);
}

describe('IKE SA and Child SA established (PSK)', () => {
  let seed = 10;
  for (const ike of IKE) {
    it(`IKE ${ike}`, () => {
      const pair = establish(ike, 'aes256gcm16', (seed += 10));
      expect(failures(pair.iEffects)).toEqual([]);
      expect(pair.initiator.state).toBe('ESTABLISHED');
      expect(pair.responder?.state).toBe('ESTABLISHED');
      // the negotiated suite, in its full form (an implicit PRF spelled out, as strongSwan prints it)
      const full = formatProposal(parseProposal(ike, 'ike'));
      expect(pair.initiator.proposal).toBe(full);
      expect(pair.responder?.proposal).toBe(full);
      expect(pair.initiator.spiR).toEqual(pair.responder?.spiR);
      expectMirrored(pair);
    });
  }
  for (const esp of ESP) {
    it(`ESP ${esp}`, () => {
      const pair = establish('aes256gcm16-prfsha256-x25519', esp, (seed += 10));
      expect(pair.initiator.state).toBe('ESTABLISHED');
      expectMirrored(pair);
      const [child] = installs(pair.iEffects);
      expect(child.keysOut.integ.length > 0).toBe(esp.includes('sha256'));
      expect(pair.initiator.children.map((c) => c.state)).toEqual(['INSTALLED']);
    });
  }

  it('reports events in order: connecting, established, child installed; no keys in events', () => {
    const pair = establish('aes256gcm16-prfsha256-x25519', 'aes256gcm16', 7);
    const types = events(pair.iEffects).map((e) => e.type);
    expect(types.indexOf('ike-established')).toBeLessThan(types.indexOf('child-installed'));
    const json = JSON.stringify(events([...pair.iEffects, ...pair.rEffects]));
    const [child] = installs(pair.iEffects);
    const hex = Buffer.from(child.keysOut.encr).toString('hex');
    expect(json).not.toContain(hex);
    expect(json).not.toContain('correct horse');
    expect(pair.initiator.nat).toEqual({ local: false, remote: false });
    expect(pair.responder?.nat).toEqual({ local: false, remote: false });
    expect(pair.initiator.remoteId).toBe('sun.example');
  });

  it('transport mode when both sides configure it (N(USE_TRANSPORT_MODE), RFC 7296 §1.3.1); tunnel when only one does', () => {
    const both = new Pair(
      { id: 'moon.example', remoteId: 'sun.example', mode: 'transport', seed: 3 },
      { id: 'sun.example', remoteId: 'moon.example', mode: 'transport', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 4 },
    );
    both.establish();
    expect(installs(both.iEffects)[0].mode).toBe('transport');
    expect(installs(both.rEffects)[0].mode).toBe('transport');
    const one = new Pair(
      { id: 'moon.example', remoteId: 'sun.example', mode: 'transport', seed: 3 },
      { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 4 },
    );
    one.establish();
    expect(installs(one.iEffects)[0].mode).toBe('tunnel');
    expect(installs(one.rEffects)[0].mode).toBe('tunnel');
  });
});
