// EAP inside IKE_AUTH (RFC 7296 §2.16), both roles: the initiator sent no AUTH in its first
// IKE_AUTH request, the responder answered with its certificate, AUTH and the first EAP request;
// then each IKE_AUTH round carries one EAP packet each way, until EAP-Success gives both ends the
// MSK; then each side sends an AUTH payload keyed with the MSK instead of a PSK, and the
// responder's last answer carries the Child SA and configuration payloads of the first request.
// The EAP method itself (Identity + MSCHAPv2) is auth/eap-mschapv2.ts.
import { AuthMethod, ExchangeType, NotifyType } from '../../wire/constants.js';
import type { AuthPayload, IdPayload, Payload } from '../../wire/types.js';
import { MsChapV2Peer, MsChapV2Server, type EapStep } from '../auth/eap-mschapv2.js';
import { pskAuthData, verifyPskAuth } from '../auth/psk.js';
import { event, type Effect } from '../effects.js';
import { findNotify, first, notify } from '../payloads.js';
import type { SaContext } from '../sa-context.js';
import type { Received, Task, TaskResult } from '../task.js';
import { acceptVirtualIps, assignVirtualIps } from '../virtual-ip.js';
import { octetsOf, ownId, sentAuthentication } from './authenticate.js';
import { processChildRequest, processChildResponse, type ChildOffer } from './child-sa.js';
import { AuthFailedNotice } from './informational.js';
import { mobikeNotify, recordMobike } from './mobike.js';

const METHOD = 'EAP-MSCHAPv2';

/** RFC 7296 §2.16: AUTH keyed with the MSK as §2.15 keys it with a shared secret. */
function mskAuth(ctx: SaContext, side: 'initiator' | 'responder', id: IdPayload, msk: Uint8Array): AuthPayload {
  return { kind: 'AUTH', critical: false, method: AuthMethod.SHARED_KEY_MIC, data: pskAuthData(ctx.keys!.prfId, msk, octetsOf(ctx, side, id)) };
}

function mskAuthMatches(ctx: SaContext, side: 'initiator' | 'responder', id: IdPayload, msk: Uint8Array, auth: AuthPayload | undefined): boolean {
  return !!auth && auth.method === AuthMethod.SHARED_KEY_MIC && verifyPskAuth(ctx.keys!.prfId, msk, octetsOf(ctx, side, id), auth.data);
}

/** F3 with the method and its result as evidence; `message` says whose authentication failed. */
function eapFailure(out: Effect[], message: string, detail: string, user: string | undefined, expectedId?: string): void {
  out.push(event({ type: 'failure', row: 'F3', message: `${message}: ${METHOD}: ${detail}`, evidence: { check: 'eap', expectedId, detail, eap: { method: METHOD, ...(user !== undefined ? { user } : {}), result: detail } } }));
}

const eapPayload = (packet: Uint8Array): Payload => ({ kind: 'EAP', critical: false, data: packet });

// ---- responder (a gateway) -------------------------------------------------------------------

/**
 * Responder, first IKE_AUTH request without AUTH from a peer the connection authenticates with
 * EAP: keep what the last exchange needs and return the first EAP request, to go after our IDr,
 * CERT and AUTH (RFC 7296 §2.16).
 */
export function startEapResponder(ctx: SaContext, idi: IdPayload, request: Payload[]): Payload {
  const r = ctx.cfg.remoteAuth;
  if (r.method !== 'eap-mschapv2') throw new Error('startEapResponder: the connection does not authenticate with EAP');
  const server = new MsChapV2Server(r.users, ctx.cfg.random, ctx.cfg.localId);
  ctx.eap = { server, idi, request };
  return eapPayload(server.start());
}

/** Responder: each later IKE_AUTH request of an EAP exchange (ike-sa.ts makes it while ctx.eap is set). */
export class EapResponder implements Task {
  readonly kind = 'ike-auth';
  readonly exchange = ExchangeType.IKE_AUTH;

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    const st = ctx.eap!;
    if (st.msk) return this.finish(ctx, m.payloads, out);
    const eap = first(m.payloads, 'EAP');
    if (!eap) return this.fail(ctx, out, 'the initiator sent no EAP payload while EAP was in progress', undefined);
    const step = st.server.receive(eap.data);
    if (step.kind === 'send') {
      // reported when the method refuses the peer: strongSwan answers our Failure with AUTHENTICATION_FAILED, not EAP
      if (step.rejected) {
        eapFailure(out, 'authentication of the initiator failed', step.rejected.detail, step.rejected.user, ctx.cfg.remoteId);
        st.rejected = true;
      }
      return { response: [eapPayload(step.packet)] };
    }
    if (step.kind === 'failure') {
      if (!st.rejected) eapFailure(out, 'authentication of the initiator failed', step.detail, step.user, ctx.cfg.remoteId);
      ctx.eap = undefined;
      return { response: [eapPayload(step.packet!)], end: { to: 'FAILED', reason: 'failed' } };
    }
    st.msk = step.msk;
    st.user = step.user;
    out.push(event({ type: 'eap', method: METHOD, user: step.user, result: 'success' }));
    return { response: [eapPayload(step.packet!)] };
  }

  /** RFC 7296 §2.16: the initiator's AUTH with the MSK; ours back, with the Child SA of its first request. */
  private finish(ctx: SaContext, p: Payload[], out: Effect[]): TaskResult {
    const st = ctx.eap!;
    const msk = st.msk!;
    try {
      if (!mskAuthMatches(ctx, 'initiator', st.idi, msk, first(p, 'AUTH')))
        return this.fail(ctx, out, 'the AUTH payload after EAP-Success does not match the MSK', st.user);
      ctx.remoteIdText = st.user; // the identity EAP proved: leases and status go by the user
      ctx.peerInitialContact = !!findNotify(st.request, NotifyType.INITIAL_CONTACT);
      const auth = mskAuth(ctx, 'responder', ownId(ctx, 'IDr'), msk);
      recordMobike(ctx, st.request); // RFC 4555 §3.2: the client offered it in its first IKE_AUTH request
      const mobike = mobikeNotify(ctx, st.request);
      const vip = assignVirtualIps(ctx, st.request, out);
      if (vip.kind === 'failed') return { response: [auth, ...mobike, ...vip.reply], established: true };
      const child = processChildRequest(ctx, st.request, out);
      return { response: [auth, ...mobike, ...(vip.kind === 'assigned' ? vip.reply : []), ...child], established: true };
    } finally {
      msk.fill(0);
      ctx.eap = undefined;
    }
  }

  private fail(ctx: SaContext, out: Effect[], detail: string, user: string | undefined): TaskResult {
    eapFailure(out, 'authentication of the initiator failed', detail, user, ctx.cfg.remoteId);
    ctx.eap?.server.dispose();
    ctx.eap = undefined;
    return { response: [notify(NotifyType.AUTHENTICATION_FAILED)], end: { to: 'FAILED', reason: 'failed' } };
  }
}

// ---- initiator (a client) --------------------------------------------------------------------

/**
 * Initiator: the responder's first IKE_AUTH answer was checked (its certificate and AUTH);
 * answer its EAP request in the next IKE_AUTH round.
 */
export function startEapInitiator(ctx: SaContext, offer: ChildOffer | undefined, p: Payload[], out: Effect[]): TaskResult {
  const a = ctx.cfg.localAuth;
  if (a.method !== 'eap-mschapv2') throw new Error('startEapInitiator: we do not authenticate with EAP');
  recordMobike(ctx, p); // RFC 4555 §3.2
  const task = new EapInitiator(new MsChapV2Peer(a.eapId, a.password, ctx.cfg.random), offer, first(p, 'IDr')!);
  return task.step(ctx, p, out);
}

/** Initiator: one IKE_AUTH round of EAP each, then the round with our MSK-keyed AUTH. */
class EapInitiator implements Task {
  readonly kind = 'ike-auth';
  readonly exchange = ExchangeType.IKE_AUTH;
  private pending: Uint8Array | undefined; // the EAP response to send
  private msk: Uint8Array | undefined;

  constructor(
    private readonly peer: MsChapV2Peer,
    private readonly offer: ChildOffer | undefined,
    private readonly idr: IdPayload, // RFC 7296 §2.16: the responder's second AUTH covers the IDr of its first answer
  ) {}

  build(ctx: SaContext): Payload[] {
    if (this.msk) return [mskAuth(ctx, 'initiator', ownId(ctx, 'IDi'), this.msk)];
    return [eapPayload(this.pending!)];
  }

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    const p = m.payloads;
    if (findNotify(p, NotifyType.AUTHENTICATION_FAILED)) {
      out.push(event({ type: 'failure', row: 'F3', message: `the peer rejected our authentication (AUTHENTICATION_FAILED${this.msk ? ' after EAP-Success' : ''})`, evidence: { check: 'peer-rejected', notify: 'AUTHENTICATION_FAILED', sent: sentAuthentication(ctx, undefined) } }));
      return this.end();
    }
    if (!this.msk) return this.step(ctx, p, out);
    // RFC 7296 §2.16: the responder's second AUTH, keyed with the MSK, over the IDr it sent first
    if (!mskAuthMatches(ctx, 'responder', this.idr, this.msk, first(p, 'AUTH'))) {
      eapFailure(out, 'authentication of the responder failed', 'the responder\'s AUTH after EAP-Success does not match the MSK', undefined, ctx.cfg.remoteId);
      return { ...this.end(), next: [new AuthFailedNotice()] };
    }
    this.dispose();
    if (!ctx.mobike) recordMobike(ctx, p); // RFC 4555 §3.2: in the first answer (startEapInitiator) or this last one
    if (this.offer && acceptVirtualIps(ctx, p, out)) processChildResponse(ctx, this.offer, p, out);
    return { established: true };
  }

  /** Feed the responder's EAP packet to the method; ask for the next round. */
  step(ctx: SaContext, p: Payload[], out: Effect[]): TaskResult {
    const eap = first(p, 'EAP');
    const s: EapStep = eap ? this.peer.receive(eap.data) : { kind: 'failure', detail: 'the responder sent no EAP payload', user: undefined };
    if (s.kind === 'failure') {
      eapFailure(out, 'our authentication failed', s.detail, s.user);
      return this.end();
    }
    if (s.kind === 'success') {
      this.msk = s.msk;
      out.push(event({ type: 'eap', method: METHOD, user: s.user, result: 'success' }));
    } else this.pending = s.packet;
    return { next: [this] };
  }

  dispose(): void {
    this.msk?.fill(0);
    this.msk = undefined;
    this.peer.dispose();
  }

  dropped(): void {
    this.dispose();
  }

  private end(): TaskResult {
    this.dispose();
    return { end: { to: 'FAILED', reason: 'failed' } };
  }
}
