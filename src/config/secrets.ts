// The secrets and certificates a peer.json points at: the PSK (inline, file or environment
// variable) and PEM/DER files for local.key, local.cert, remote.ca and remote.crls. Each failure is a
// ConfigProblem naming the field; no message ever carries the PSK or key bytes.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCrl, type Crl } from '../ike/auth/crl.js';
import type { ConfigProblem } from './types.js';

/** A value, or the problems that kept us from it. */
export type Got<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };
const fail = <T>(path: string, expected: string): Got<T> => ({ ok: false, problems: [{ path, expected }] });

function readFile(path: string, file: string, baseDir: string): Got<{ abs: string; data: Buffer }> {
  const abs = resolve(baseDir, file);
  try {
    return { ok: true, value: { abs, data: readFileSync(abs) } };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code ?? 'unreadable';
    return fail(path, `cannot read ${abs}: ${why}`);
  }
}

/**
 * The PSK bytes, marked so that printing or serialising a PeerConfig by mistake shows no key:
 * util.inspect and JSON.stringify see "<redacted N-byte PSK>". The bytes themselves are untouched.
 */
export function redacted(bytes: Uint8Array): Uint8Array {
  const text = () => `<redacted ${bytes.length}-byte PSK>`;
  Object.defineProperty(bytes, Symbol.for('nodejs.util.inspect.custom'), { value: text, enumerable: false });
  Object.defineProperty(bytes, 'toJSON', { value: text, enumerable: false });
  Object.defineProperty(bytes, 'toString', { value: text, enumerable: false });
  return bytes;
}

/** A redacted copy of a decoding buffer, which is zeroed (Buffer.from may hand out pooled memory). */
function copyOut(buf: Buffer): Uint8Array {
  const out = redacted(new Uint8Array(buf));
  buf.fill(0);
  return out;
}

/**
 * PSK text -> bytes, as swanctl.conf `secrets.ike.secret` reads it: `0x` + hex or `0s` +
 * base64 give raw bytes, anything else is the UTF-8 string itself.
 */
function pskBytes(text: string, path: string): Got<Uint8Array> {
  if (/^0x/i.test(text)) {
    const hex = text.slice(2);
    if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
      return fail(path, 'expected an even number of hex digits after 0x');
    }
    return { ok: true, value: copyOut(Buffer.from(hex, 'hex')) };
  }
  if (/^0s/i.test(text)) {
    const b64 = text.slice(2);
    if (b64.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      return fail(path, 'expected base64 after 0s');
    }
    return { ok: true, value: copyOut(Buffer.from(b64, 'base64')) };
  }
  return { ok: true, value: redacted(new TextEncoder().encode(text)) };
}

/** `psk`: a string, `{file}` (one trailing newline ignored) or `{env}`. */
export function resolvePsk(psk: string | { file: string } | { env: string }, baseDir: string, env: NodeJS.ProcessEnv): Got<Uint8Array> {
  if (typeof psk === 'string') return pskBytes(psk, '/psk');
  if ('file' in psk) {
    const got = readFile('/psk/file', psk.file, baseDir);
    if (!got.ok) return got;
    const text = got.value.data.toString('utf8').replace(/\r?\n$/, '');
    got.value.data.fill(0);
    if (text === '') return fail('/psk/file', `${got.value.abs} is empty`);
    return pskBytes(text, '/psk/file');
  }
  const value = env[psk.env];
  if (value === undefined) return fail('/psk/env', `environment variable ${psk.env} is not set`);
  if (value === '') return fail('/psk/env', `environment variable ${psk.env} is empty`);
  return pskBytes(value, '/psk/env');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM file (in file order), or the one certificate of a DER file. */
export function readCertificates(path: string, file: string, baseDir: string): Got<{ abs: string; certs: X509Certificate[] }> {
  const got = readFile(path, file, baseDir);
  if (!got.ok) return got;
  const { abs, data } = got.value;
  const text = data.toString('latin1');
  const blocks = text.match(PEM_CERT);
  const certs: X509Certificate[] = [];
  if (blocks) {
    for (let i = 0; i < blocks.length; i++) {
      try {
        certs.push(new X509Certificate(blocks[i]));
      } catch {
        return fail(path, `certificate ${i + 1} in ${abs} does not parse as X.509`);
      }
    }
  } else if (!text.includes('-----BEGIN')) {
    try {
      certs.push(new X509Certificate(data));
    } catch {
      /* reported below */
    }
  }
  if (certs.length === 0) return fail(path, `${abs} holds no X.509 certificate (expected PEM "BEGIN CERTIFICATE" blocks or one DER certificate)`);
  return { ok: true, value: { abs, certs } };
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g;

/** `remote.crls`: every CRL in a PEM file ("BEGIN X509 CRL" blocks), or the one CRL of a DER file (RFC 5280 §5). */
export function readCrls(path: string, file: string, baseDir: string): Got<{ abs: string; crls: Crl[] }> {
  const got = readFile(path, file, baseDir);
  if (!got.ok) return got;
  const { abs, data } = got.value;
  const text = data.toString('latin1');
  const ders = text.includes('-----BEGIN') ? [...text.matchAll(PEM_CRL)].map((m) => Buffer.from(m[1], 'base64')) : [data];
  if (ders.length === 0) return fail(path, `${abs} holds no CRL (expected PEM "BEGIN X509 CRL" blocks or one DER CRL)`);
  const crls: Crl[] = [];
  for (const [i, der] of ders.entries()) {
    try {
      crls.push(parseCrl(new Uint8Array(der)));
    } catch (e) {
      return fail(path, `CRL ${i + 1} in ${abs} does not parse as an X.509 CRL (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return { ok: true, value: { abs, crls } };
}

// What src/ike/auth/signature.ts can sign with (RFC 7427 §3 schemes, RFC 8420 EdDSA).
const SIGNING_KEY_TYPES = new Set(['rsa', 'rsa-pss', 'ec', 'ed25519', 'ed448']);

/** `local.key`: an unencrypted private key, PEM (PKCS#8, PKCS#1, SEC1) or DER PKCS#8. */
export function readPrivateKey(file: string, baseDir: string): Got<KeyObject> {
  const got = readFile('/local/key', file, baseDir);
  if (!got.ok) return got;
  const { abs, data } = got.value;
  let key: KeyObject | undefined;
  // RFC 7468 §11 "ENCRYPTED PRIVATE KEY", or OpenSSL's legacy RFC 1421 header "Proc-Type: 4,ENCRYPTED"
  let encrypted = data.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || data.includes('Proc-Type: 4,ENCRYPTED');
  try {
    if (!encrypted) key = createPrivateKey({ key: data, format: 'pem' });
  } catch (e) {
    encrypted = (e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE';
    if (!encrypted && !data.includes('-----BEGIN')) {
      try {
        key = createPrivateKey({ key: data, format: 'der', type: 'pkcs8' });
      } catch {
        /* reported below */
      }
    }
  } finally {
    data.fill(0);
  }
  if (encrypted) return fail('/local/key', `${abs} is encrypted; tsvpn needs an unencrypted key (openssl pkey -in <file> -out <plain file>)`);
  if (!key) return fail('/local/key', `${abs} holds no private key tsvpn can read (expected PEM PKCS#8, PKCS#1 or SEC1, or DER PKCS#8)`);
  const type = key.asymmetricKeyType ?? 'unknown';
  if (!SIGNING_KEY_TYPES.has(type)) return fail('/local/key', `${abs} holds a ${type} key; tsvpn signs with RSA, ECDSA, Ed25519 or Ed448 keys`);
  return { ok: true, value: key };
}

/** DER bytes of a certificate. */
export const derOf = (c: X509Certificate): Uint8Array => new Uint8Array(c.raw);
