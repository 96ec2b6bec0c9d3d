// Test helper: certificates and CRLs made with `openssl req` + `openssl ca` (fixed validity
// dates, any extension config, SHA-1 or RSA-1024 on request) in a scratch directory kept for
// the run, plus the same chain judged by `openssl verify` for the differential tests.
// A certificate can also be patched after issuing (DER bytes of its tbsCertificate changed,
// then signed again with its issuer's key) for defects openssl cannot write.
import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Tag, children, concat, readOnly, seq, tlv } from '../../../src/ike/auth/der.js';
import { scratch, type Scratch } from './openssl.js';

export interface CertSpec {
  /** openssl -subj form, e.g. "/C=CH/O=tsvpn/CN=leaf" */
  subject: string;
  /** id of the issuing certificate; absent: self-signed */
  issuer?: string;
  key?: 'ec' | 'rsa1024' | 'rsa2048';
  md?: 'sha256' | 'sha1';
  /** openssl x509v3 config lines for this certificate ("basicConstraints = critical,CA:TRUE", ...) */
  ext: string[];
  /** more config sections the lines refer to (dirName sections of nameConstraints) */
  sections?: string;
  notBefore?: string; // YYYYMMDDHHMMSSZ
  notAfter?: string;
  /** changes the tbsCertificate DER (same length or not); the result is signed again by the issuer */
  patch?: (tbs: Buffer) => Buffer;
}

export interface ChainFiles {
  leaf: string;
  inter: string[];
  anchors: string[];
  crls?: string[];
}

/** Validation time of every generated chain: 2030-01-01T00:00:00Z. */
export const AT = new Date(Date.UTC(2030, 0, 1));
export const CA_DATES = { notBefore: '20250101000000Z', notAfter: '20400101000000Z' };
export const LEAF_DATES = { notBefore: '20290101000000Z', notAfter: '20310101000000Z' };

const CA_CNF = `[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial.txt
crlnumber = crlnumber.txt
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = yes
default_crl_days = 30
[any]
C = optional
O = optional
OU = optional
CN = optional
emailAddress = optional
[req]
distinguished_name = dn
prompt = no
[dn]
`;

export class Pki {
  readonly s: Scratch = scratch();
  readonly der: Record<string, Uint8Array> = {};
  readonly crl: Record<string, Uint8Array> = {};
  private keys: Record<string, KeyObject> = {};
  private specs: Record<string, CertSpec> = {};

  constructor() {
    this.s.write('ca.cnf', CA_CNF);
    this.s.write('index.txt', '');
    this.s.write('serial.txt', '01\n');
    this.s.write('crlnumber.txt', '01\n');
  }

  private run(...args: string[]): void {
    const r = spawnSync('openssl', args, { cwd: this.s.dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  }

  /** The private key of certificate `id`. */
  key(id: string): KeyObject {
    return this.keys[id];
  }

  /** Issues certificate `id` (the issuer must exist already); returns its DER. */
  make(id: string, spec: CertSpec): Uint8Array {
    const kind = spec.key ?? 'ec';
    const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: kind === 'rsa1024' ? 1024 : 2048 });
    this.keys[id] = pair.privateKey;
    this.specs[id] = spec;
    this.s.write(`${id}.key`, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    this.s.write(`${id}.ext`, `[x]\n${spec.ext.join('\n')}\n${spec.sections ?? ''}\n`);
    this.run('req', '-new', '-key', `${id}.key`, '-subj', spec.subject, '-config', 'ca.cnf', '-out', `${id}.csr`);
    const dates = spec.ext.some((l) => /CA:TRUE/.test(l)) ? CA_DATES : LEAF_DATES;
    const signer = spec.issuer === undefined ? ['-selfsign', '-keyfile', `${id}.key`] : ['-cert', `${spec.issuer}.pem`, '-keyfile', `${spec.issuer}.key`];
    this.run('ca', '-batch', '-config', 'ca.cnf', '-notext', '-preserveDN', '-rand_serial', ...signer, '-in', `${id}.csr`, '-out', `${id}.pem`,
      '-startdate', spec.notBefore ?? dates.notBefore, '-enddate', spec.notAfter ?? dates.notAfter, '-md', spec.md ?? 'sha256',
      '-extfile', `${id}.ext`, '-extensions', 'x');
    let der: Uint8Array = new Uint8Array(new X509Certificate(this.s.read(`${id}.pem`)).raw);
    if (spec.patch) {
      der = this.resign(der, spec.patch, this.keys[spec.issuer ?? id], spec.md ?? 'sha256');
      this.s.write(`${id}.pem`, pem('CERTIFICATE', der));
    }
    this.der[id] = der;
    return der;
  }

  private resign(der: Uint8Array, patch: (tbs: Buffer) => Buffer, key: KeyObject, md: string): Uint8Array {
    const [tbs, alg] = children(readOnly(der, Tag.SEQUENCE).content);
    const patched = new Uint8Array(patch(Buffer.from(tbs.raw)));
    const sig = sign(md, patched, key);
    return seq(patched, alg.raw, tlv(Tag.BIT_STRING, concat(new Uint8Array([0]), sig)));
  }

  /** A CRL `id` from CA `ca` revoking the certificates `revoked` (by id). */
  makeCrl(id: string, ca: string, revoked: string[], o: { lastUpdate?: string; nextUpdate?: string } = {}): Uint8Array {
    const lines = revoked.map((r) => {
      const x = new X509Certificate(this.s.read(`${r}.pem`));
      return `R\t400101000000Z\t280101000000Z\t${x.serialNumber}\tunknown\t${this.specs[r].subject}`;
    });
    this.s.write(`${id}.idx`, lines.join('\n') + (lines.length ? '\n' : ''));
    this.s.write(`${id}.cnf`, CA_CNF.replace('database = index.txt', `database = ${id}.idx`));
    this.run('ca', '-batch', '-config', `${id}.cnf`, '-gencrl', '-cert', `${ca}.pem`, '-keyfile', `${ca}.key`, '-md', 'sha256', '-out', `${id}.crl`,
      '-crl_lastupdate', o.lastUpdate ?? '20291201000000Z', '-crl_nextupdate', o.nextUpdate ?? '20300201000000Z');
    const text = this.s.read(`${id}.crl`).toString('latin1');
    const b64 = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(text)![1];
    this.crl[id] = new Uint8Array(Buffer.from(b64, 'base64'));
    return this.crl[id];
  }

  /** `openssl verify` of the same chain at `AT`: strict, sslclient purpose, security level 2, CRLs for the whole chain. */
  opensslVerify(c: ChainFiles): { ok: boolean; output: string } {
    const cat = (name: string, ids: string[], ext: string) => {
      this.s.write(name, ids.map((i) => this.s.read(`${i}.${ext}`).toString('latin1')).join(''));
      return name;
    };
    const args = ['verify', '-x509_strict', '-purpose', 'sslclient', '-auth_level', '2', '-attime', String(AT.getTime() / 1000),
      '-CAfile', cat('anchors.pem', c.anchors, 'pem')];
    if (c.inter.length) args.push('-untrusted', cat('untrusted.pem', c.inter, 'pem'));
    if (c.crls?.length) args.push('-crl_check_all', '-CRLfile', cat('crls.pem', c.crls, 'crl'));
    args.push(`${c.leaf}.pem`);
    const r = spawnSync('openssl', args, { cwd: this.s.dir, encoding: 'utf8' });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
  }

  remove(): void {
    this.s.remove();
  }
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** Extension lines of a CA made for `openssl verify -x509_strict` (critical basicConstraints, keyUsage, key identifiers). */
export const caExt = (more: string[] = [], bc = 'critical,CA:TRUE', ku = 'critical,keyCertSign,cRLSign'): string[] => [
  `basicConstraints = ${bc}`,
  `keyUsage = ${ku}`,
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
  ...more,
];

/** Extension lines of an IKE end entity: digitalSignature, clientAuth+serverAuth, a DNS and an IP SAN. */
export const leafExt = (o: { san?: string; ku?: string | null; eku?: string | null; more?: string[] } = {}): string[] => [
  'basicConstraints = CA:FALSE',
  ...(o.ku === null ? [] : [`keyUsage = ${o.ku ?? 'critical,digitalSignature'}`]),
  ...(o.eku === null ? [] : [`extendedKeyUsage = ${o.eku ?? 'serverAuth,clientAuth'}`]),
  `subjectAltName = ${o.san ?? 'DNS:vpn.example.com,IP:192.0.2.10'}`,
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
  ...(o.more ?? []),
];
