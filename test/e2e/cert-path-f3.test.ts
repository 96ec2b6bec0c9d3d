// Issue 13 hole 3 end to end: a tsvpn responder whose certificate is signed with SHA-1 is
// refused by the tsvpn initiator: its status shows failure F3 naming the path check
// (algorithm), the certificate and the field, and no tunnel comes up.
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../interop/lab/wait.js';
import type { PeerJson } from '../../src/cli/lab-tunnel.js';
import { Pki, caExt, leafExt } from '../ike/auth/chains.js';
import { labOk, withPair } from './helpers/lab.js';

// the daemons use the real clock: these certificates are valid from 2025 to 2039
const NOW_VALID = { notBefore: '20250101000000Z', notAfter: '20390101000000Z' };
let pki: Pki;

beforeAll(() => {
  pki = new Pki();
  pki.make('root', { subject: '/CN=tsvpn test Root CA', ext: caExt() });
  pki.make('left', { subject: '/CN=left', issuer: 'root', ext: leafExt({ san: 'DNS:left.example' }), ...NOW_VALID });
  pki.make('right', { subject: '/CN=right', issuer: 'root', ext: leafExt({ san: 'DNS:right.example' }), md: 'sha1', ...NOW_VALID });
  for (const k of ['left.key', 'right.key']) chmodSync(pki.s.path(k), 0o600);
}, 60_000);
afterAll(() => pki?.remove());

describe.skipIf(!labOk)('certificate path validation over the wire (needs root, namespaces, /dev/net/tun)', () => {
  it('an SHA-1 signed responder certificate: the initiator shows F3 "algorithm" and no tunnel', { timeout: 60_000 }, async () => {
    const edit = (side: 'left' | 'right', p: PeerJson) => {
      delete p.psk;
      Object.assign(p.local as object, { auth: 'pubkey', cert: pki.s.path(`${side}.pem`), key: pki.s.path(`${side}.key`) });
      Object.assign(p.remote as object, { auth: 'pubkey', ca: [pki.s.path('root.pem')] });
    };
    await withPair({ names: { left: 'sha1-l', right: 'sha1-r' }, edit }, async (pair) => {
      // the initiator's control socket appears a moment after it starts
      const probe = () => pair.status('left').catch(() => undefined);
      const st = await until(probe, { timeout: 30_000, interval: 250, what: 'F3 on the initiator', done: (s) => s?.lastFailure?.row === 'F3' });
      const f = st!.lastFailure!;
      expect(f.evidence).toMatchObject({ check: 'certificate-chain', expectedId: 'right.example', receivedId: 'right.example' });
      expect((f.evidence as { detail: string }).detail).toMatch(/^algorithm: certificate "CN=right" field signatureAlgorithm: ECDSA SHA-1 \(SHA-1 signatures are refused/);
      expect(st!.ikeSas.some((s) => s.state === 'ESTABLISHED')).toBe(false);
    });
  });
});
