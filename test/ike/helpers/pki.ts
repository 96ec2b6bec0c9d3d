// Test PKI made with the openssl CLI in a temporary directory (removed by `cleanup`): one
// ECDSA P-256 CA, and leaf certificates with RSA, ECDSA P-256 or Ed25519 keys whose
// subjectAltName is the peer's FQDN identity.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

export type KeyKind = 'rsa' | 'ecdsa' | 'ed25519';

export interface Pki {
  dir: string;
  ca(name: string): Uint8Array;
  leaf(caName: string, kind: KeyKind, fqdn: string, days?: number): { key: KeyObject; cert: Uint8Array };
  cleanup(): void;
}

const GENKEY: Record<KeyKind, string[]> = {
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  ecdsa: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  ed25519: ['-algorithm', 'ED25519'],
};

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const der = (pem: string) => new Uint8Array(new X509Certificate(readFileSync(join(dir, pem))).raw);
  let n = 0;
  return {
    dir,
    ca(name) {
      ssl('genpkey', ...GENKEY.ecdsa, '-out', `${name}.key`);
      ssl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
      return der(`${name}.pem`);
    },
    leaf(caName, kind, fqdn, days = 30) {
      const base = `leaf${n++}`;
      ssl('genpkey', ...GENKEY[kind], '-out', `${base}.key`);
      ssl('req', '-new', '-key', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${fqdn}`);
      writeFileSync(join(dir, `${base}.ext`), `subjectAltName=DNS:${fqdn}\nbasicConstraints=CA:FALSE\n`);
      ssl('x509', '-req', '-in', `${base}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial',
        '-days', String(days), '-out', `${base}.pem`, '-extfile', `${base}.ext`);
      return { key: createPrivateKey(readFileSync(join(dir, `${base}.key`))), cert: der(`${base}.pem`) };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
