// Stateless cookies against IKE_SA_INIT floods (RFC 7296 §2.6).
import { sha256 } from '@noble/hashes/sha2.js';
import type { Endpoint } from './config.js';
import { addressBytes } from './nat.js';

// Implementation choice: strongSwan's `charon.cookie_threshold` default (10 half-open SAs).
export const DEFAULT_COOKIE_THRESHOLD = 10;

/**
 * RFC 7296 §2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>).
 * One version byte, then SHA-256. The secret can be rotated; the previous one stays valid.
 */
export class CookieJar {
  private version = 0;
  private secret: Uint8Array;
  private previous: Uint8Array | undefined;

  constructor(private readonly random: (n: number) => Uint8Array) {
    this.secret = random(32);
  }

  make(ni: Uint8Array, from: Endpoint, spiI: Uint8Array): Uint8Array {
    return this.compute(this.version, this.secret, ni, from, spiI);
  }

  verify(cookie: Uint8Array, ni: Uint8Array, from: Endpoint, spiI: Uint8Array): boolean {
    if (cookie.length !== 33) return false;
    const v = cookie[0];
    const secret = v === this.version ? this.secret : v === ((this.version + 255) & 0xff) ? this.previous : undefined;
    if (!secret) return false;
    const want = this.compute(v, secret, ni, from, spiI);
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff |= want[i] ^ cookie[i];
    return diff === 0;
  }

  /** RFC 7296 §2.6: the secret should change periodically. */
  rotate(): void {
    this.previous?.fill(0);
    this.previous = this.secret;
    this.secret = this.random(32);
    this.version = (this.version + 1) & 0xff;
  }

  dispose(): void {
    this.secret.fill(0);
    this.previous?.fill(0);
  }

  private compute(version: number, secret: Uint8Array, ni: Uint8Array, from: Endpoint, spiI: Uint8Array): Uint8Array {
    const ip = addressBytes(from.addr);
    const buf = new Uint8Array(ni.length + ip.length + 8 + secret.length);
    buf.set(ni, 0);
    buf.set(ip, ni.length);
    buf.set(spiI, ni.length + ip.length);
    buf.set(secret, ni.length + ip.length + 8);
    const out = new Uint8Array(33);
    out[0] = version;
    out.set(sha256(buf), 1);
    return out;
  }
}
