// Building and checking the AUTH payload of IKE_AUTH (RFC 7296 §2.15) with a PSK or a
// signature (RFC 7427), plus the CERT/CERTREQ payloads that go with it (§3.6, §3.7).
import { X509Certificate } from 'node:crypto';
import { sha1 } from '@noble/hashes/legacy.js';
import { AuthMethod, CertEncoding } from '../../wire/constants.js';
import type { AuthPayload, CertPayload, CertReqPayload, IdPayload, Payload } from '../../wire/types.js';
import { formatIdentity, identityMatches, parseIdentity, type Identity } from '../auth/identity.js';
import { signedOctets } from '../auth/signed-octets.js';
import { pskAuthData, verifyPskAuth } from '../auth/psk.js';
import { signAuth, verifyAuth } from '../auth/signature.js';
import { certMatchesIdentity } from '../auth/certs.js';
import { verifyCertificateChain, type ChainCheck } from '../auth/path-validation.js';
import { acceptsAnyId } from '../config.js';
import type { AuthCheck, SentAuthentication } from '../effects.js';
import type { SaContext } from '../sa-context.js';

type Side = 'initiator' | 'responder';

/** RFC 7296 §2.15: the octets side `side` signs: its IKE_SA_INIT message | the other nonce | prf(SK_p, ID'). */
export function octetsOf(ctx: SaContext, side: Side, id: Identity): Uint8Array {
  const k = ctx.keys!;
  return signedOctets({
    firstMessage: side === 'initiator' ? ctx.initRequest! : ctx.initResponse!,
    peerNonce: side === 'initiator' ? ctx.nr! : ctx.ni!,
    prfId: k.prfId,
    skP: side === 'initiator' ? k.skPi : k.skPr,
    idType: id.idType,
    idData: id.data,
  });
}

/** Our IDi or IDr payload, from `local.id`. */
export function ownId(ctx: SaContext, kind: 'IDi' | 'IDr'): IdPayload {
  const id = parseIdentity(ctx.cfg.localId);
  return { kind, critical: false, idType: id.idType, data: id.data };
}

/** Each trust anchor's SHA-1 public key hash, worked out once per anchor (the configuration keeps the same bytes), not once per IKE SA. */
const anchorHashes = new WeakMap<Uint8Array, Uint8Array>();
const anchorHash = (der: Uint8Array): Uint8Array => {
  let h = anchorHashes.get(der);
  if (!h) anchorHashes.set(der, (h = sha1(new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }))));
  return h;
};

/** RFC 7296 §3.7: CERTREQ for X.509 = concatenated SHA-1 hashes of the trust anchors' public keys. */
export function certReqPayload(trustAnchors: Uint8Array[]): CertReqPayload {
  const hashes = trustAnchors.map(anchorHash);
  const data = new Uint8Array(hashes.length * 20);
  hashes.forEach((h, i) => data.set(h, i * 20));
  return { kind: 'CERTREQ', critical: false, encoding: CertEncoding.X509_SIGNATURE, data };
}

/** Our CERT payloads (leaf first) and AUTH payload. */
export function buildAuth(ctx: SaContext, id: Identity): Payload[] {
  const octets = octetsOf(ctx, ctx.role, id);
  const a = ctx.cfg.localAuth;
  if (a.method === 'psk') {
    const auth: AuthPayload = { kind: 'AUTH', critical: false, method: AuthMethod.SHARED_KEY_MIC, data: pskAuthData(ctx.keys!.prfId, a.psk, octets) };
    return [auth];
  }
  if (a.method === 'eap-mschapv2') return []; // RFC 7296 §2.16: no AUTH until EAP has given the MSK (tasks/eap-auth.ts)
  const certs: CertPayload[] = a.certChain.map((der) => ({ kind: 'CERT', critical: false, encoding: CertEncoding.X509_SIGNATURE, data: der }));
  const signed = signAuth(a.key, octets, { peerHashes: ctx.peerHashes });
  return [...certs, { kind: 'AUTH', critical: false, method: signed.method, data: signed.data }];
}

export type AuthVerdict = { ok: true; id: string } | { ok: false; check: AuthCheck; detail: string; receivedId?: string };

/** Check the peer's ID against the configuration, then its AUTH (and certificate chain). */
export function verifyPeer(ctx: SaContext, idp: IdPayload, certs: CertPayload[], auth: AuthPayload): AuthVerdict {
  const received: Identity = { idType: idp.idType, data: idp.data };
  let receivedId: string;
  try {
    receivedId = formatIdentity(idp.idType, idp.data);
  } catch {
    receivedId = `type ${idp.idType}, ${idp.data.length} bytes`;
  }
  if (!acceptsAnyId(ctx.cfg) && !safeMatches(ctx.cfg.remoteId!, received))
    return { ok: false, check: 'id-mismatch', detail: `expected ${ctx.cfg.remoteId}, received ${receivedId}`, receivedId };
  const peerSide: Side = ctx.role === 'initiator' ? 'responder' : 'initiator';
  const octets = octetsOf(ctx, peerSide, received);
  const r = ctx.cfg.remoteAuth;
  if (r.method === 'psk') {
    if (auth.method !== AuthMethod.SHARED_KEY_MIC || ctx.cfg.localAuth.method !== 'psk')
      return { ok: false, check: 'psk-mismatch', detail: `peer used AUTH method ${auth.method}, expected a PSK`, receivedId };
    // RFC 7296 §2.15: the same PSK both ways; the AUTH value is keyed with it
    if (!verifyPskAuth(ctx.keys!.prfId, ctx.cfg.localAuth.psk, octets, auth.data))
      return { ok: false, check: 'psk-mismatch', detail: 'AUTH payload does not match our pre-shared key', receivedId };
    return { ok: true, id: receivedId };
  }
  if (r.method === 'eap-mschapv2') return { ok: false, check: 'eap', detail: 'this connection authenticates its peers with EAP-MSCHAPv2, but the peer sent an AUTH payload', receivedId };
  const x509 = certs.filter((c) => c.encoding === CertEncoding.X509_SIGNATURE);
  if (x509.length === 0) return { ok: false, check: 'certificate-chain', detail: 'peer sent no X.509 certificate', receivedId };
  try {
    const chain = verifyCertificateChain({
      leaf: x509[0].data,
      intermediates: x509.slice(1).map((c) => c.data),
      trustAnchors: r.trustAnchors,
      crls: r.crls,
      now: new Date(ctx.cfg.wallClock ? ctx.cfg.wallClock() : ctx.now), // without wallClock, `now` is epoch ms
    });
    // the detail starts with the path check, then names the certificate and its field
    if (!chain.ok) return { ok: false, check: chainCheck(chain.check), detail: `${chain.check}: ${chain.detail}`, receivedId };
    if (!certMatchesIdentity(chain.leaf, received))
      return { ok: false, check: 'id-mismatch', detail: `certificate does not contain identity ${receivedId}`, receivedId };
    const v = verifyAuth(chain.leaf.publicKey, auth.method, auth.data, octets);
    if (!v.ok) return { ok: false, check: 'signature', detail: `${v.reason}: ${v.detail}`, receivedId };
    return { ok: true, id: receivedId };
  } catch (e) {
    // the checks above return verdicts for what a peer can send; should one still throw, the
    // peer is refused (F3, AUTHENTICATION_FAILED) instead of the exchange dying with the error
    return { ok: false, check: 'certificate-chain', detail: `internal error while checking the certificates: ${e instanceof Error ? e.message : String(e)}`, receivedId };
  }
}

function safeMatches(configured: string, received: Identity): boolean {
  try {
    return identityMatches(configured, received);
  } catch {
    return false;
  }
}

function chainCheck(check: ChainCheck): AuthCheck {
  return check === 'ca' || check === 'validity' || check === 'eku' ? check : 'certificate-chain';
}

/** What we showed a peer that refused us (F3 `peer-rejected`): our ID, the IDr we asked for, our certificate's names. */
export function sentAuthentication(ctx: SaContext, askedIdr: string | undefined): SentAuthentication {
  const a = ctx.cfg.localAuth;
  const sent: SentAuthentication = { id: ctx.cfg.localId, ...(askedIdr !== undefined ? { askedIdr } : {}), auth: a.method, ...(a.method === 'eap-mschapv2' ? { eapId: a.eapId } : {}) };
  if (a.method === 'pubkey' && a.certChain[0]) {
    const leaf = new X509Certificate(a.certChain[0]);
    sent.cert = { subject: leaf.subject.replace(/\n/g, ', '), ...(leaf.subjectAltName ? { altNames: leaf.subjectAltName } : {}), notAfter: new Date(leaf.validTo).toISOString() };
  }
  return sent;
}
