// The lines of Wireshark's IKEv2 and ESP decryption tables (UAT files `ikev2_decryption_table`
// and `esp_sa` in its configuration directory), as strongSwan's save-keys plugin writes them:
//
//   ikev2_decryption_table:  SPIi,SPIr,SK_ei,SK_er,"encryption",SK_ai,SK_ar,"integrity"
//     SPIs as 16 hex digits, keys as hex without 0x (empty SK_a* with an AEAD cipher)
//   esp_sa, one line per direction:
//     "IPv4","src","dst","0xSPI","encryption","0xkey","authentication","0xkey"
//
// The algorithm names are the exact strings of Wireshark's value lists (packet-isakmp.c,
// packet-esp.c); an algorithm Wireshark cannot decrypt has no name and gets no line.
import type { ChildSaInfo, ExportedIkeKeys } from '../ike/effects.js';
import { EncrId, IntegId } from '../wire/constants.js';
import { spiHex } from '../wire/spi.js';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** IKEv2 integrity names (Wireshark's ikev2 UAT; RFC 2404, RFC 4868; NONE with AEAD, RFC 5282 §8). */
const IKE_INTEG: ReadonlyMap<number, string> = new Map([
  [IntegId.NONE, 'NONE [RFC4306]'],
  [IntegId.HMAC_SHA1_96, 'HMAC_SHA1_96 [RFC2404]'],
  [IntegId.HMAC_SHA2_256_128, 'HMAC_SHA2_256_128 [RFC4868]'],
  [IntegId.HMAC_SHA2_384_192, 'HMAC_SHA2_384_192 [RFC4868]'],
  [IntegId.HMAC_SHA2_512_256, 'HMAC_SHA2_512_256 [RFC4868]'],
]);

/** ESP authentication names (Wireshark's esp_sa UAT); an AEAD cipher checks its own ICV: NULL. */
const ESP_INTEG: ReadonlyMap<number, string> = new Map([
  [IntegId.NONE, 'NULL'],
  [IntegId.HMAC_SHA1_96, 'HMAC-SHA-1-96 [RFC2404]'],
  [IntegId.HMAC_SHA2_256_128, 'HMAC-SHA-256-128 [RFC4868]'],
  [IntegId.HMAC_SHA2_384_192, 'HMAC-SHA-384-192 [RFC4868]'],
  [IntegId.HMAC_SHA2_512_256, 'HMAC-SHA-512-256 [RFC4868]'],
]);

/** IKEv2 encryption name: the key length is part of it. Wireshark has no IKEv2 ChaCha20-Poly1305. */
function ikeEncrName(e: { id: number; keyLength?: number }): string | undefined {
  if (e.id === EncrId.AES_CBC) return `AES-CBC-${e.keyLength} [RFC3602]`;
  if (e.id === EncrId.AES_GCM_16) return `AES-GCM-${e.keyLength} with 16 octet ICV [RFC5282]`;
  return undefined;
}

/** ESP encryption name; the key length follows from the key (AEAD keys end with their 4-octet salt, RFC 4106 §8.1). */
function espEncrName(id: number): string | undefined {
  if (id === EncrId.AES_CBC) return 'AES-CBC [RFC3602]';
  if (id === EncrId.AES_GCM_16) return 'AES-GCM with 16 octet ICV [RFC4106]';
  if (id === EncrId.CHACHA20_POLY1305) return 'ChaCha20 with Poly1305 [RFC7634]'; // Wireshark 4.2 and later
  return undefined;
}

/** One ikev2_decryption_table line (with its newline), or undefined when Wireshark cannot decrypt the cipher. */
export function ikev2Line(k: ExportedIkeKeys): string | undefined {
  const encr = ikeEncrName(k.encr);
  const integ = IKE_INTEG.get(k.integ);
  if (encr === undefined || integ === undefined) return undefined;
  return `${spiHex(k.spiI)},${spiHex(k.spiR)},${hex(k.skEi)},${hex(k.skEr)},"${encr}",${hex(k.skAi)},${hex(k.skAr)},"${integ}"\n`;
}

/** The two esp_sa lines of a Child SA (what we send, then what we receive), or undefined as above. */
export function espLines(c: ChildSaInfo): string | undefined {
  const encr = espEncrName(c.encr.id);
  const integ = ESP_INTEG.get(c.integ);
  if (encr === undefined || integ === undefined) return undefined;
  const family = c.local.addr.includes(':') ? 'IPv6' : 'IPv4';
  const line = (src: string, dst: string, spi: number, keys: { encr: Uint8Array; integ: Uint8Array }): string =>
    `"${family}","${src}","${dst}","0x${spiHex(spi)}","${encr}","0x${hex(keys.encr)}","${integ}","0x${hex(keys.integ)}"\n`;
  return line(c.local.addr, c.remote.addr, c.spiOut, c.keysOut) + line(c.remote.addr, c.local.addr, c.spiIn, c.keysIn);
}

