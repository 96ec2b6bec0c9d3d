// MOBIKE (RFC 4555): both ends say in IKE_AUTH that they support it (§3.2); later the
// initiator, whose own address changed, moves the IKE SA and its Child SAs to the new address
// with an INFORMATIONAL carrying UPDATE_SA_ADDRESSES and fresh NAT-D (§3.5), and the
// responder follows it once that request has passed its integrity check. Only the initiator
// moves (§3.1: the responder's addresses stay). ADDITIONAL_*_ADDRESS lists are not sent:
// a client has one address at a time here.
import { ExchangeType, IKE_PORT, NAT_T_PORT, NotifyType } from '../../wire/constants.js';
import type { Payload } from '../../wire/types.js';
import type { Endpoint } from '../config.js';
import { event, type Effect } from '../effects.js';
import { allNotifies, findNotify, notify } from '../payloads.js';
import { detectNat, natPayloads, withForcedEncap } from '../nat.js';
import type { SaContext } from '../sa-context.js';
import type { Received, Task, TaskResult } from '../task.js';
import { InformationalResponder } from './informational.js';

// Implementation choice: COOKIE2 of 16 octets (RFC 4555 §3.11 allows 8 to 64)
const COOKIE2_LENGTH = 16;

/** IKE_AUTH, either role: N(MOBIKE_SUPPORTED) when MOBIKE is on (RFC 4555 §3.2); the responder answers only an offer. */
export function mobikeNotify(ctx: SaContext, request?: Payload[]): Payload[] {
  if (ctx.cfg.mobike === false) return [];
  if (request && !findNotify(request, NotifyType.MOBIKE_SUPPORTED)) return [];
  return [notify(NotifyType.MOBIKE_SUPPORTED)];
}

/** RFC 4555 §3.2: MOBIKE is in use when both ends sent MOBIKE_SUPPORTED in IKE_AUTH. */
export function recordMobike(ctx: SaContext, received: Payload[]): void {
  ctx.mobike = ctx.cfg.mobike !== false && !!findNotify(received, NotifyType.MOBIKE_SUPPORTED);
}

/** NAT-D of an UPDATE_SA_ADDRESSES message as received (RFC 4555 §3.5, the hashes as RFC 7296 §2.23 makes them). */
function natOf(ctx: SaContext, m: Received): SaContext['nat'] {
  const h = m.msg.header;
  const src = allNotifies(m.payloads, NotifyType.NAT_DETECTION_SOURCE_IP).map((n) => n.data);
  const dst = allNotifies(m.payloads, NotifyType.NAT_DETECTION_DESTINATION_IP).map((n) => n.data);
  const nat = detectNat(h.spiI, h.spiR, src, dst, m.path.from, m.path.to);
  if (!nat) return ctx.nat;
  return withForcedEncap(nat, m.path.from, ctx.cfg.remoteAddrAny ? undefined : ctx.cfg.remote);
}

/**
 * Initiator: our address moved from `from` to the SA's current local address; tell the
 * responder with UPDATE_SA_ADDRESSES, NAT-D for the new path and a COOKIE2 (RFC 4555 §3.5, §3.11).
 */
export class UpdateSaAddresses implements Task {
  readonly kind = 'mobike';
  readonly exchange = ExchangeType.INFORMATIONAL;
  private cookie2: Uint8Array | undefined;
  constructor(readonly from: Endpoint) {}

  build(ctx: SaContext): Payload[] {
    this.cookie2 = ctx.cfg.random(COOKIE2_LENGTH);
    return [
      notify(NotifyType.UPDATE_SA_ADDRESSES), // RFC 4555 §3.5: the addresses of this message are the SA's from now on
      ...natPayloads(ctx, ctx.local, ctx.remote), // RFC 4555 §3.5: NAT-D as in IKE_SA_INIT, for the new path
      notify(NotifyType.COOKIE2, this.cookie2), // RFC 4555 §3.11: return routability of the new path
    ];
  }

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    const echoed = findNotify(m.payloads, NotifyType.COOKIE2)?.data;
    // RFC 4555 §3.11: a response without our COOKIE2 closes the IKE SA
    if (!this.cookie2 || !echoed || echoed.length !== this.cookie2.length || echoed.some((b, i) => b !== this.cookie2![i])) {
      out.push(event({ type: 'notify', exchange: 'INFORMATIONAL', notify: 'UPDATE_SA_ADDRESSES answered without our COOKIE2 (RFC 4555 §3.11): closing the IKE SA' }));
      return { end: { to: 'DELETED', reason: 'failed' } };
    }
    ctx.nat = natOf(ctx, m);
    // RFC 4555 §3.9: a NAT on the new path: IKE and ESP in UDP on port 4500 (RFC 3948)
    if ((ctx.nat?.local || ctx.nat?.remote) && ctx.remote.port === IKE_PORT) {
      ctx.local = { ...ctx.local, port: NAT_T_PORT };
      ctx.remote = { ...ctx.remote, port: NAT_T_PORT };
    }
    out.push(event({ type: 'local-moved', from: { ...this.from }, to: { ...ctx.local }, remote: { ...ctx.remote }, nat: { ...(ctx.nat ?? { local: false, remote: false }) } }));
    return {};
  }
}

/**
 * Responder: an authenticated INFORMATIONAL with UPDATE_SA_ADDRESSES (RFC 4555 §3.5). The
 * IKE SA has checked its integrity before this runs, so a forged one never gets here. NAT-D is
 * redone for the new path and answered with our own; the IKE SA then follows the peer
 * (IkeSa.follow, as for a NAT mapping change) and the daemon moves the Child SAs' ESP.
 */
export class UpdateSaAddressesResponder implements Task {
  readonly kind = 'mobike';
  readonly exchange = ExchangeType.INFORMATIONAL;

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    const rest = new InformationalResponder().process(ctx, m, out); // any Deletes it also carries
    // RFC 4555 §3.5: without MOBIKE negotiated the notify means nothing; nor on an SA already going
    if (!ctx.mobike || rest.end || m.state !== 'ESTABLISHED') return rest;
    ctx.nat = natOf(ctx, m);
    const cookie2 = findNotify(m.payloads, NotifyType.COOKIE2);
    const response = [
      ...(rest.response ?? []),
      ...natPayloads(ctx, m.path.to, m.path.from), // RFC 4555 §3.5: the response carries NAT-D too
      ...(cookie2 ? [notify(NotifyType.COOKIE2, cookie2.data)] : []), // RFC 4555 §3.11: echoed unchanged
    ];
    return { ...rest, response, follow: 'mobike' };
  }
}
