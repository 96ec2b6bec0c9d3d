// The IKE_AUTH exchange (RFC 7296 §1.2, §2.15): identities, AUTH, certificates, and the
// first Child SA. Everything here travels inside SK.
import { ExchangeType, NotifyType } from '../../wire/constants.js';
import type { CertPayload, IdPayload, Payload } from '../../wire/types.js';
import { parseIdentity } from '../auth/identity.js';
import { acceptsAnyId } from '../config.js';
import { event, type Effect } from '../effects.js';
import { all, findNotify, first, firstError, notify, notifyName } from '../payloads.js';
import type { SaContext } from '../sa-context.js';
import { buildAuth, certReqPayload, sentAuthentication, verifyPeer } from './authenticate.js';
import { buildChildOffer, processChildRequest, processChildResponse, type ChildOffer } from './child-sa.js';
import type { Received, Task, TaskResult } from '../task.js';
import { AuthFailedNotice } from './informational.js';
import { idText, selectByIdentity } from '../select-config.js';
import { acceptVirtualIps, assignVirtualIps, virtualIpRequest } from '../virtual-ip.js';
import { mobikeNotify, recordMobike } from './mobike.js';

/** IKE_AUTH, either role. The initiator keeps the Child SA it offered until the response. */
export class IkeAuth implements Task {
  readonly kind = 'ike-auth';
  readonly exchange = ExchangeType.IKE_AUTH;
  private offer: ChildOffer | undefined;
  constructor(private readonly role: 'initiator' | 'responder') {}

  build(ctx: SaContext): Payload[] {
    const r = buildAuthRequest(ctx);
    this.offer = r.offer;
    return r.payloads;
  }

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    return this.role === 'initiator' ? this.processResponse(ctx, m.payloads, out) : this.processRequest(ctx, m, out);
  }

  private processResponse(ctx: SaContext, p: Payload[], out: Effect[]): TaskResult {
    const r = processAuthResponse(ctx, this.offer, p, out);
    this.offer = undefined;
    if (r === 'established') return { established: true };
    // RFC 7296 §2.21.2: tell the responder in an INFORMATIONAL, once, then give up
    if (r === 'rejected-by-us') return { next: [new AuthFailedNotice()], end: { to: 'FAILED', reason: 'failed' } };
    return { end: { to: 'FAILED', reason: 'failed' } };
  }

  private processRequest(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    // RFC 7296 §2.23: the initiator may have floated to port 4500; answer where it came from
    ctx.remote = { ...m.path.from };
    ctx.local = { ...m.path.to };
    const r = processAuthRequest(ctx, m.payloads, out);
    return r.result === 'ok' ? { response: r.response, established: true } : { response: r.response, end: { to: 'FAILED', reason: 'failed' } };
  }
}

function ownId(ctx: SaContext, kind: 'IDi' | 'IDr'): IdPayload {
  const id = parseIdentity(ctx.cfg.localId);
  return { kind, critical: false, idType: id.idType, data: id.data };
}

function certReq(ctx: SaContext): Payload[] {
  return ctx.cfg.remoteAuth.method === 'pubkey' ? [certReqPayload(ctx.cfg.remoteAuth.trustAnchors)] : [];
}

/** Initiator: IDi [CERT] [N(INITIAL_CONTACT)] [CERTREQ] [IDr] AUTH [SA TSi TSr]. */
function buildAuthRequest(ctx: SaContext): { payloads: Payload[]; offer?: ChildOffer } {
  const idi = ownId(ctx, 'IDi');
  const authAndCerts = buildAuth(ctx, idi);
  const certs = authAndCerts.filter((p) => p.kind === 'CERT');
  const auth = authAndCerts.filter((p) => p.kind === 'AUTH');
  const idr: Payload[] = [];
  const asked = askedIdr(ctx);
  if (asked !== undefined) {
    const r = parseIdentity(asked); // RFC 7296 §2.15: IDr tells the responder which identity we want
    idr.push({ kind: 'IDr', critical: false, idType: r.idType, data: r.data });
  }
  const cfg = ctx.cfg.children[0];
  const child = cfg && buildChildOffer(ctx, cfg);
  const payloads = [
    idi,
    ...certs,
    ...(ctx.cfg.initialContact ? [notify(NotifyType.INITIAL_CONTACT)] : []),
    ...mobikeNotify(ctx), // RFC 4555 §3.2
    ...certReq(ctx),
    ...idr,
    ...auth,
    ...virtualIpRequest(ctx), // RFC 7296 §2.19: CP(CFG_REQUEST) before SAi2
    ...(child ? child.payloads : []),
  ];
  return { payloads, offer: child?.offer };
}

/** The IDr an initiator sends: its remote ID when that is one literal identity, not %any or a pattern. */
function askedIdr(ctx: SaContext): string | undefined {
  if (acceptsAnyId(ctx.cfg) || /[*]/.test(ctx.cfg.remoteId!)) return undefined;
  try {
    parseIdentity(ctx.cfg.remoteId!);
    return ctx.cfg.remoteId;
  } catch {
    return undefined; // a pattern that is not a literal identity: send no IDr
  }
}

type AuthRequestResult = { result: 'ok' | 'failed'; response: Payload[] };

/** Responder: check the initiator, answer with IDr [CERT] AUTH and the Child SA (or AUTHENTICATION_FAILED). */
function processAuthRequest(ctx: SaContext, p: Payload[], out: Effect[]): AuthRequestResult {
  const idi = first(p, 'IDi');
  const auth = first(p, 'AUTH');
  if (!idi || !auth) return fail(ctx, out, 'id-mismatch', 'no IDi or AUTH payload');
  if (ctx.candidates) {
    // a gateway: the connection for this peer is the one its identities match best (select-config.ts)
    const candidates = ctx.candidates;
    ctx.candidates = undefined;
    const chosen = selectByIdentity(candidates, idi, first(p, 'IDr'));
    // no connection is this peer's: the evidence names what each would take, not the first one's alone
    if (!chosen) return fail(ctx, out, 'id-mismatch', `no connection accepts identity ${idText(idi)} (expected ${candidates.map((c) => `${c.remoteId ?? '%any'} for ${c.name}`).join(', ')})`, candidates.map((c) => c.remoteId ?? '%any').join(' | '));
    ctx.cfg = chosen.cfg;
    out.push(event({ type: 'config-selected', name: chosen.cfg.name, why: chosen.why }));
  }
  const verdict = verifyPeer(ctx, idi, all(p, 'CERT') as CertPayload[], auth);
  if (!verdict.ok) {
    out.push(event({ type: 'failure', row: 'F3', message: `authentication of the initiator failed: ${verdict.check}`, evidence: { check: verdict.check, expectedId: ctx.cfg.remoteId, receivedId: verdict.receivedId, detail: verdict.detail } }));
    // RFC 7296 §2.21.2: the responder answers with AUTHENTICATION_FAILED
    return { result: 'failed', response: [notify(NotifyType.AUTHENTICATION_FAILED)] };
  }
  ctx.remoteIdText = verdict.id;
  // RFC 7296 §2.4: the peer has no other SAs with us (it restarted); the daemon drops the old ones
  ctx.peerInitialContact = !!findNotify(p, NotifyType.INITIAL_CONTACT);
  const idr = ownId(ctx, 'IDr');
  const authAndCerts = buildAuth(ctx, idr);
  recordMobike(ctx, p); // RFC 4555 §3.2
  const mobike = mobikeNotify(ctx, p);
  // RFC 7296 §2.19: a virtual IP first, as the peer's side of the Child SA is that address
  const vip = assignVirtualIps(ctx, p, out);
  if (vip.kind === 'failed') return { result: 'ok', response: [idr, ...authAndCerts, ...mobike, ...vip.reply] }; // the IKE SA without a Child SA
  const child = processChildRequest(ctx, p, out);
  return { result: 'ok', response: [idr, ...authAndCerts, ...mobike, ...(vip.kind === 'assigned' ? vip.reply : []), ...child] };
}

function fail(ctx: SaContext, out: Effect[], check: 'id-mismatch', detail: string, expectedId = ctx.cfg.remoteId): AuthRequestResult {
  out.push(event({ type: 'failure', row: 'F3', message: `authentication of the initiator failed: ${detail}`, evidence: { check, expectedId, detail } }));
  return { result: 'failed', response: [notify(NotifyType.AUTHENTICATION_FAILED)] };
}

type AuthResponseResult = 'established' | 'rejected-by-peer' | 'rejected-by-us' | 'failed';

/** Initiator: the IKE_AUTH response. */
function processAuthResponse(ctx: SaContext, offer: ChildOffer | undefined, p: Payload[], out: Effect[]): AuthResponseResult {
  if (findNotify(p, NotifyType.AUTHENTICATION_FAILED)) {
    out.push(event({ type: 'failure', row: 'F3', message: 'the peer rejected our authentication (AUTHENTICATION_FAILED)', evidence: { check: 'peer-rejected', notify: 'AUTHENTICATION_FAILED', sent: sentAuthentication(ctx, askedIdr(ctx)) } }));
    return 'rejected-by-peer';
  }
  const idr = first(p, 'IDr');
  const auth = first(p, 'AUTH');
  if (!idr || !auth) {
    const err = firstError(p);
    out.push(event({ type: 'notify', exchange: 'IKE_AUTH', notify: err ? notifyName(err.notifyType) : 'no IDr/AUTH in response' }));
    return 'failed';
  }
  const verdict = verifyPeer(ctx, idr, all(p, 'CERT') as CertPayload[], auth);
  if (!verdict.ok) {
    out.push(event({ type: 'failure', row: 'F3', message: `authentication of the responder failed: ${verdict.check}`, evidence: { check: verdict.check, expectedId: ctx.cfg.remoteId, receivedId: verdict.receivedId, detail: verdict.detail } }));
    return 'rejected-by-us';
  }
  ctx.remoteIdText = verdict.id;
  recordMobike(ctx, p); // RFC 4555 §3.2
  // no virtual IP (when one was asked for): the IKE SA stands, without a Child SA (RFC 7296 §3.10.1)
  if (offer && acceptVirtualIps(ctx, p, out)) processChildResponse(ctx, offer, p, out);
  return 'established';
}
