// MS-CHAPv2 (RFC 2759) and its MPPE keys (RFC 3079), as EAP-MSCHAPv2 uses them in IKEv2
// (draft-kamath-pppext-eap-mschapv2-02; RFC 7296 §2.16 takes the MSK for AUTH). Pure functions
// over bytes; callers zero what they get back (password hashes, NT-Response keys, the MSK).
import { sha1 } from '@noble/hashes/legacy.js';
import { concatBytes, zero } from './bytes.js';
import { desEncrypt7 } from './des.js';
import { md4 } from './md4.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// RFC 2759 §8.7: the two constants of GenerateAuthenticatorResponse
const AUTH_MAGIC1 = ascii('Magic server to client signing constant');
const AUTH_MAGIC2 = ascii('Pad to make it do more than one iteration');
// RFC 3079 §3.4: GetMasterKey's constant, and GetAsymmetricStartKey's two and its pads
const MASTER_MAGIC = ascii('This is the MPPE Master Key');
const CLIENT_SEND_MAGIC = ascii('On the client side, this is the send key; on the server side, it is the receive key.');
const CLIENT_RECEIVE_MAGIC = ascii('On the client side, this is the receive key; on the server side, it is the send key.');
const SHS_PAD1 = new Uint8Array(40);
const SHS_PAD2 = new Uint8Array(40).fill(0xf2);

/** RFC 2759 §8.3 NtPasswordHash: MD4 of the password in UTF-16 little-endian (Unicode, no terminator). */
export function ntPasswordHash(password: Uint8Array /* UTF-8 */): Uint8Array {
  const units = new TextDecoder().decode(password);
  const utf16 = new Uint8Array(units.length * 2);
  for (let i = 0; i < units.length; i++) {
    const u = units.charCodeAt(i);
    utf16[i * 2] = u & 0xff;
    utf16[i * 2 + 1] = u >> 8;
  }
  try {
    return md4(utf16);
  } finally {
    utf16.fill(0);
  }
}

/** RFC 2759 §8.2 ChallengeHash: the first 8 bytes of SHA1(PeerChallenge | AuthenticatorChallenge | UserName). */
export function challengeHash(peerChallenge: Uint8Array, authChallenge: Uint8Array, userName: Uint8Array): Uint8Array {
  return sha1(concatBytes(peerChallenge, authChallenge, userName)).slice(0, 8);
}

/** RFC 2759 §8.5 ChallengeResponse: the hash zero-padded to 21 bytes, three DES keys of 7 bytes each. */
function challengeResponse(challenge: Uint8Array, passwordHash: Uint8Array): Uint8Array {
  const z = new Uint8Array(21);
  z.set(passwordHash);
  try {
    return concatBytes(desEncrypt7(z.subarray(0, 7), challenge), desEncrypt7(z.subarray(7, 14), challenge), desEncrypt7(z.subarray(14, 21), challenge));
  } finally {
    z.fill(0);
  }
}

/** What both ends compute from one MS-CHAPv2 exchange. */
export interface MsChapV2Input {
  authChallenge: Uint8Array; // 16 bytes, from the authenticator (the gateway)
  peerChallenge: Uint8Array; // 16 bytes, from the peer (the client)
  userName: Uint8Array; // as sent in the Response packet's Name field
  passwordHash: Uint8Array; // ntPasswordHash(password)
}

/** RFC 2759 §8.1 GenerateNTResponse: 24 bytes. */
export function ntResponse(i: MsChapV2Input): Uint8Array {
  const ch = challengeHash(i.peerChallenge, i.authChallenge, i.userName);
  try {
    return challengeResponse(ch, i.passwordHash);
  } finally {
    ch.fill(0);
  }
}

/** RFC 2759 §8.7 GenerateAuthenticatorResponse: the 20 bytes the "S=" text carries in hex. */
export function authenticatorResponse(i: MsChapV2Input, ntResp: Uint8Array): Uint8Array {
  const hashHash = md4(i.passwordHash); // §8.4 HashNtPasswordHash
  const digest = sha1(concatBytes(hashHash, ntResp, AUTH_MAGIC1));
  const ch = challengeHash(i.peerChallenge, i.authChallenge, i.userName);
  try {
    return sha1(concatBytes(digest, ch, AUTH_MAGIC2));
  } finally {
    zero(hashHash, digest, ch);
  }
}

/** RFC 2759 §8.7: the AuthenticatorResponse as the Success packet's text, "S=" and 40 upper-case hex digits. */
export const authenticatorResponseText = (r: Uint8Array): string => `S=${Buffer.from(r).toString('hex').toUpperCase()}`;

/** RFC 3079 §3.4 GetMasterKey: SHA1(PasswordHashHash | NTResponse | Magic1), first 16 bytes. */
export function masterKey(passwordHash: Uint8Array, ntResp: Uint8Array): Uint8Array {
  const hashHash = md4(passwordHash);
  const d = sha1(concatBytes(hashHash, ntResp, MASTER_MAGIC));
  try {
    return d.slice(0, 16);
  } finally {
    zero(hashHash, d);
  }
}

/** RFC 3079 §3.4 GetAsymmetricStartKey with a 16-byte session key, named by the client's view. */
export function asymmetricStartKey(master: Uint8Array, clientKey: 'send' | 'receive'): Uint8Array {
  const d = sha1(concatBytes(master, SHS_PAD1, clientKey === 'send' ? CLIENT_SEND_MAGIC : CLIENT_RECEIVE_MAGIC, SHS_PAD2));
  try {
    return d.slice(0, 16);
  } finally {
    d.fill(0);
  }
}

// The MSK of EAP-MSCHAPv2 is 64 bytes: the server's MS-MPPE-Recv-Key (the client's send key),
// the server's MS-MPPE-Send-Key (the client's receive key), then 32 zero bytes, as Microsoft's
// and strongSwan's implementations make it (draft-kamath-pppext-eap-mschapv2 leaves it to RFC 3079)
export const MSCHAPV2_MSK_LENGTH = 64;

/** The EAP-MSCHAPv2 MSK (both ends compute the same 64 bytes). */
export function msChapV2Msk(passwordHash: Uint8Array, ntResp: Uint8Array): Uint8Array {
  const mk = masterKey(passwordHash, ntResp);
  const send = asymmetricStartKey(mk, 'send');
  const receive = asymmetricStartKey(mk, 'receive');
  const msk = new Uint8Array(MSCHAPV2_MSK_LENGTH);
  msk.set(send, 0);
  msk.set(receive, 16);
  zero(mk, send, receive);
  return msk;
}
