// IKE SA + Child SA with certificate authentication (RFC 7296 §2.15, RFC 7427), RSA,
// ECDSA P-256 and Ed25519 keys, and the F3 checks a certificate can fail.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makePki, type Pki, type KeyKind } from './helpers/pki.js';
import { Pair, installs, failures, type SideOptions } from './helpers/pair.js';

let pki: Pki;
let ca: Uint8Array;
let otherCa: Uint8Array;
beforeAll(() => {
  pki = makePki();
  ca = pki.ca('ca');
  otherCa = pki.ca('other');
});
afterAll(() => pki?.cleanup());

function sides(kind: KeyKind, o: { rTrust?: Uint8Array; iFqdn?: string; iDays?: number } = {}): [SideOptions, SideOptions] {
  const m = pki.leaf('ca', kind, o.iFqdn ?? 'moon.example', o.iDays);
  const s = pki.leaf('ca', kind, 'sun.example');
  return [
    { id: 'moon.example', remoteId: 'sun.example', seed: 5, localAuth: { method: 'pubkey', key: m.key, certChain: [m.cert] }, remoteAuth: { method: 'pubkey', trustAnchors: [ca] } },
    { id: 'sun.example', remoteId: 'moon.example', seed: 6, localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], localAuth: { method: 'pubkey', key: s.key, certChain: [s.cert] }, remoteAuth: { method: 'pubkey', trustAnchors: [o.rTrust ?? ca] } },
  ];
}

describe('certificate authentication', () => {
  for (const kind of ['rsa', 'ecdsa', 'ed25519'] as const) {
    it(`${kind} keys: both sides verify each other and install mirrored Child SAs`, () => {
      const [i, r] = sides(kind);
      const p = new Pair(i, r);
      p.establish();
      expect(failures([...p.iEffects, ...p.rEffects])).toEqual([]);
      expect(p.initiator.state).toBe('ESTABLISHED');
      expect(p.responder?.state).toBe('ESTABLISHED');
      expect(p.initiator.remoteId).toBe('sun.example');
      expect(p.responder?.remoteId).toBe('moon.example');
      const [a] = installs(p.iEffects);
      const [b] = installs(p.rEffects);
      expect(a.keysOut).toEqual(b.keysIn);
      expect(a.spiOut).toBe(b.spiIn);
    });
  }

  it('F3: a certificate from a CA the responder does not trust', () => {
    const [i, r] = sides('ecdsa', { rTrust: otherCa });
    const p = new Pair(i, r);
    p.establish();
    const [f] = failures(p.rEffects);
    expect(f.row).toBe('F3');
    expect(['ca', 'certificate-chain']).toContain((f.evidence as { check: string }).check);
    // the rejected initiator names the certificate it sent: subject, names and end
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'peer-rejected', sent: { id: 'moon.example', auth: 'pubkey', cert: { subject: expect.stringContaining('moon.example'), altNames: expect.stringContaining('moon.example'), notAfter: expect.stringMatching(/^20\d\d-/) } } } });
  });

  it('F3: a certificate that does not contain the identity it is used for', () => {
    const [i, r] = sides('ecdsa', { iFqdn: 'venus.example' });
    const p = new Pair(i, r);
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'id-mismatch' } });
  });

  it('F3: a certificate outside its validity period (the clock is injected)', () => {
    const [i, r] = sides('ecdsa');
    const p = new Pair(i, r);
    p.rCfg.wallClock = () => Date.now() + 365 * 86400_000;
    p.establish();
    expect(failures(p.rEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'validity' } });
  });
});
