// Test certificates made at test time with strongSwan's `pki` (strongswan-pki): one CA
// and leaves per key type (RSA-3072, ECDSA P-256, Ed25519), each leaf carrying
// subjectAltNames for every identity type a case may use (FQDN, the outer IPv4 or IPv6
// address, e-mail), and a
// subject DN for the DN identity (RFC 4945 §3.1: the ID must match the subject or a SAN).
// Everything is PEM text in memory; the work directory is removed before returning.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type KeyType = 'rsa' | 'ecdsa' | 'ed25519';

export class PkiError extends Error {
  override name = 'PkiError';
}

export interface LabCert {
  keyType: KeyType;
  /** Subject DN as strongSwan prints it, e.g. "C=CH, O=tsvpn lab, CN=right.example". */
  dn: string;
  sans: string[];
  certPem: string;
  keyPem: string;
}

export interface LabCa {
  keyType: KeyType;
  dn: string;
  certPem: string;
  keyPem: string;
  /** Issue a leaf signed by this CA. */
  issue(o: { dn: string; sans: string[]; lifetimeDays?: number; keyType?: KeyType }): LabCert;
}

export function pkiSupport(): { ok: true } | { ok: false; why: string } {
  const r = spawnSync('pki', ['--version'], { encoding: 'utf8' });
  if (r.error) return { ok: false, why: '`pki` is missing: apt-get install strongswan-pki' };
  return { ok: true };
}

function pki(args: string[], cwd: string): Buffer {
  const r = spawnSync('pki', args, { cwd, maxBuffer: 1 << 20 });
  if (r.error) throw new PkiError(`pki ${args[0]}: ${r.error.message}`);
  // pki prints plugin-loading noise (e.g. TPM) on stderr even on success; only the exit code counts
  if (r.status !== 0) throw new PkiError(`pki ${args.join(' ')} failed (${r.status}): ${r.stderr.toString().trim()}`);
  return r.stdout;
}

const genArgs: Record<KeyType, string[]> = {
  rsa: ['--type', 'rsa', '--size', '3072'],
  ecdsa: ['--type', 'ecdsa', '--size', '256'],
  ed25519: ['--type', 'ed25519'],
};

/** Generate a private key (PEM) of the given type. */
export function genKey(keyType: KeyType, dir: string): string {
  return pki(['--gen', ...genArgs[keyType], '--outform', 'pem'], dir).toString();
}

/** A self-signed CA of `keyType`, ready to issue leaves. */
export function createCa(o: { keyType: KeyType; dn?: string; lifetimeDays?: number }): LabCa {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-pki-'));
  try {
    const dn = o.dn ?? `C=CH, O=tsvpn lab, CN=tsvpn lab ${o.keyType} CA`;
    const keyPem = genKey(o.keyType, dir);
    writeFileSync(join(dir, 'ca.key'), keyPem, { mode: 0o600 });
    const certPem = pki(
      ['--self', '--ca', '--in', 'ca.key', '--type', 'priv', '--dn', dn, '--lifetime', String(o.lifetimeDays ?? 30), '--outform', 'pem'],
      dir,
    ).toString();
    return { keyType: o.keyType, dn, certPem, keyPem, issue: (leaf) => issueLeaf({ keyType: o.keyType, dn, certPem, keyPem }, leaf) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function issueLeaf(
  ca: { keyType: KeyType; dn: string; certPem: string; keyPem: string },
  o: { dn: string; sans: string[]; lifetimeDays?: number; keyType?: KeyType },
): LabCert {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-pki-'));
  try {
    const keyType = o.keyType ?? ca.keyType;
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    const keyPem = genKey(keyType, dir);
    writeFileSync(join(dir, 'leaf.key'), keyPem, { mode: 0o600 });
    const args = ['--issue', '--in', 'leaf.key', '--type', 'priv', '--cacert', 'ca.pem', '--cakey', 'ca.key', '--dn', o.dn];
    for (const san of o.sans) args.push('--san', san);
    args.push('--lifetime', String(o.lifetimeDays ?? 30), '--outform', 'pem');
    writeFileSync(join(dir, 'leaf.pem'), pki(args, dir));
    return { keyType, dn: o.dn, sans: o.sans, certPem: readFileSync(join(dir, 'leaf.pem'), 'utf8'), keyPem };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One host's identities in every form the matrix uses. */
export interface HostIds {
  fqdn: string; // e.g. right.example
  /** The outer address when it is IPv4 (ID_IPV4_ADDR), e.g. 198.51.100.2. */
  ipv4?: string;
  /** The outer address when it is IPv6 (ID_IPV6_ADDR), e.g. 2001:db8:100::2. */
  ipv6?: string;
  email: string; // e.g. right@example.org
  dn: string; // e.g. C=CH, O=tsvpn lab, CN=right.example
}

export function hostIds(label: string, outer: string): HostIds {
  const addr = outer.includes(':') ? { ipv6: outer } : { ipv4: outer };
  return { fqdn: `${label}.example`, ...addr, email: `${label}@example.org`, dn: `C=CH, O=tsvpn lab, CN=${label}.example` };
}

/** A leaf for `ids`, with SANs for the FQDN, the outer address and the e-mail address. */
export function issueHost(ca: LabCa, ids: HostIds): LabCert {
  return ca.issue({ dn: ids.dn, sans: [ids.fqdn, (ids.ipv4 ?? ids.ipv6)!, ids.email] });
}
