// Test helpers for the ESP datapath: inner packets and SA specs.
import { ipToBytes, parseSelector } from '../../src/wire/selectors.js';
import type { SaSpec } from '../../src/ipsec/sad.js';
import type { EspCipherSpec } from '../../src/ipsec/esp-transform.js';
import type { Backend } from '../../src/crypto/aead.js';
import { nativeInPlaceAead } from '../../src/io/native-aead.js';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** An IPv4 (or IPv6, by the address form) UDP packet with `size` payload bytes. */
export function udpPacket(src: string, dst: string, srcPort: number, dstPort: number, size = 32, fill = 0xab): Uint8Array {
  const s = ipToBytes(src);
  const d = ipToBytes(dst);
  const v6 = s.length === 16;
  const hdr = v6 ? 40 : 20;
  const p = new Uint8Array(hdr + 8 + size).fill(fill);
  if (v6) {
    p.fill(0, 0, 48);
    p[0] = 0x60;
    p[4] = (8 + size) >> 8;
    p[5] = (8 + size) & 0xff;
    p[6] = 17; // UDP
    p[7] = 64;
    p.set(s, 8);
    p.set(d, 24);
  } else {
    p.fill(0, 0, 28);
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[8] = 64;
    p[9] = 17;
    p.set(s, 12);
    p.set(d, 16);
  }
  p[hdr] = srcPort >> 8;
  p[hdr + 1] = srcPort & 0xff;
  p[hdr + 2] = dstPort >> 8;
  p[hdr + 3] = dstPort & 0xff;
  p[hdr + 4] = (8 + size) >> 8;
  p[hdr + 5] = (8 + size) & 0xff;
  return p;
}

export const sel = (...texts: string[]) => texts.map((t) => parseSelector(t));

export const GCM_KEY = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f cafebabe');

/** AES-256-GCM-16; without `backend`, ESP's default ('native' when the SAD has nativeAead, else 'node'). */
export function gcm(backend?: Backend): EspCipherSpec {
  return { kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: GCM_KEY.slice(), backend };
}

/** A pair of SA specs for one direction: what the sender installs and what the receiver installs. */
export function pair(
  cipher: () => EspCipherSpec,
  opts: { spi?: number; mode?: 'tunnel' | 'transport'; esn?: boolean; a?: string[]; b?: string[] } = {},
): { out: SaSpec; in: SaSpec } {
  const a = sel(...(opts.a ?? ['192.0.2.0/24']));
  const b = sel(...(opts.b ?? ['203.0.113.0/24']));
  const common = { spi: opts.spi ?? 0x1000_0001, mode: opts.mode ?? 'tunnel', esn: opts.esn } as const;
  return {
    out: { ...common, cipher: cipher(), localAddress: ipToBytes('198.51.100.1'), remoteAddress: ipToBytes('198.51.100.2'), localSelectors: a, remoteSelectors: b },
    in: { ...common, cipher: cipher(), localAddress: ipToBytes('198.51.100.2'), remoteAddress: ipToBytes('198.51.100.1'), localSelectors: b, remoteSelectors: a },
  };
}

/** The addon's in-place AEAD, as the daemon passes it to the SAD (undefined when not built). */
export const nativeAead = nativeInPlaceAead();
/** The native AEAD loads; tests of the 'native' backend skip otherwise, saying why. */
export const hasNativeAead = nativeAead !== undefined;
export const NEEDS_NATIVE = hasNativeAead ? '(needs the native addon)' : '(skipped: the native addon is not built; npm ci builds it)';
