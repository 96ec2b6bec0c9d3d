// remote.crls in peer.json: CRL files (PEM or DER) are parsed at load into the remote auth
// record; an unreadable or non-CRL file, or crls with a PSK peer, is a problem naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { parsePeerConfig } from '../../src/config/load.js';
import { Pki, caExt, leafExt } from '../ike/auth/chains.js';
import { example, tempDir, type Json, type TempDir } from './fixtures.js';

let tmp: TempDir;
let pki: Pki;
beforeAll(() => {
  tmp = tempDir();
  pki = new Pki();
  pki.make('root', { subject: '/CN=Root CA', ext: caExt() });
  pki.make('left', { subject: '/CN=left', issuer: 'root', ext: leafExt({ san: 'DNS:left.example' }) });
  pki.make('gone', { subject: '/CN=gone', issuer: 'root', ext: leafExt() });
  pki.makeCrl('crl', 'root', ['gone']);
  tmp.write('ca.pem', new X509Certificate(pki.der.root).toString());
  tmp.write('left.pem', new X509Certificate(pki.der.left).toString());
  tmp.write('left.key', pki.key('left').export({ format: 'pem', type: 'pkcs8' }) as string);
  tmp.write('root.crl', pki.s.read('crl.crl'));
  tmp.write('root.crl.der', pki.crl.crl);
  tmp.write('not-a-crl.pem', '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
}, 60_000);
afterAll(() => {
  tmp?.remove();
  pki?.remove();
});

function pubkey(crls: unknown): Json {
  const j = example();
  delete j.psk;
  Object.assign(j.local, { auth: 'pubkey', cert: 'left.pem', key: 'left.key' });
  Object.assign(j.remote, { auth: 'pubkey', ca: 'ca.pem', crls });
  return j;
}

describe('remote.crls', () => {
  it('a PEM file and a DER file are both read; the revoked serial is there', () => {
    const p = parsePeerConfig(pubkey(['root.crl', 'root.crl.der']), tmp.dir, {});
    if (p.remote.auth.method !== 'pubkey') throw new Error('expected pubkey');
    expect(p.remote.auth.crls).toHaveLength(2);
    const serial = new X509Certificate(pki.der.gone).serialNumber.replace(/^(00)+/, '');
    expect([...p.remote.auth.crls![0].revoked.keys()]).toEqual([serial]);
  });

  it('no crls: revocation is not checked (no CRL list in the record)', () => {
    const j = pubkey(undefined);
    delete (j.remote as Record<string, unknown>).crls;
    const p = parsePeerConfig(j, tmp.dir, {});
    expect(p.remote.auth.method === 'pubkey' && p.remote.auth.crls).toBeUndefined();
  });

  it('a file that is not a CRL, or missing, names the field', () => {
    expect(() => parsePeerConfig(pubkey('not-a-crl.pem'), tmp.dir, {})).toThrow(/\/remote\/crls: CRL 1 in .*not-a-crl\.pem does not parse as an X\.509 CRL/);
    expect(() => parsePeerConfig(pubkey(['root.crl', 'nope.crl']), tmp.dir, {})).toThrow(/\/remote\/crls\/1: cannot read .*nope\.crl: no such file/);
  });

  it('crls with a PSK peer is refused', () => {
    const j = example();
    (j.remote as Record<string, unknown>).crls = 'root.crl';
    expect(() => parsePeerConfig(j, tmp.dir, {})).toThrow(/\/remote\/crls: only used when remote.auth is "pubkey"/);
  });
});
