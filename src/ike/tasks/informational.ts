// INFORMATIONAL exchanges (RFC 7296 §1.4): Delete of the IKE SA or of Child SAs (§1.4.1), the
// empty request that checks liveness (§2.4), and AUTHENTICATION_FAILED sent by an initiator
// that could not authenticate the responder (§2.21.2). One task each as initiator; one
// responder task answers any INFORMATIONAL request.
import { ExchangeType, NotifyType, ProtocolId } from '../../wire/constants.js';
import type { DeletePayload, Payload } from '../../wire/types.js';
import { spiBytes, spiNumber } from '../../wire/spi.js';
import { event, type Effect } from '../effects.js';
import { all, findNotify, notify } from '../payloads.js';
import type { SaContext } from '../sa-context.js';
import { removeChild, switchOutbound } from '../child-sas.js';
import { sentAuthentication } from './authenticate.js';
import type { EndReason, GaveUp, Received, Task, TaskResult } from '../task.js';

/** RFC 7296 §3.11: Delete for ESP names the SPI the sender expects in inbound packets. */
function deleteChildPayloads(spisIn: number[]): Payload[] {
  return [{ kind: 'D', critical: false, protocol: ProtocolId.ESP, spiSize: 4, spis: spisIn.map(spiBytes) }];
}

/** Delete this IKE SA and with it its Child SAs (RFC 7296 §1.4.1). */
export class DeleteIke implements Task {
  readonly kind = 'delete-ike';
  readonly exchange = ExchangeType.INFORMATIONAL;
  /** `rekeyed`: the SA is deleted because a rekey replaced it (RFC 7296 §2.18). */
  constructor(private readonly reason: 'local' | 'rekeyed' = 'local') {}

  build(): Payload[] {
    return [{ kind: 'D', critical: false, protocol: ProtocolId.IKE, spiSize: 0, spis: [] }]; // RFC 7296 §3.11: no SPI for IKE
  }

  process(): TaskResult {
    return { end: { to: 'DELETED', reason: this.reason } };
  }

  giveUp(): TaskResult {
    return { end: { to: 'DELETED', reason: this.reason } };
  }
}

/** Delete one Child SA, named by our inbound SPI (RFC 7296 §1.4.1). */
export class DeleteChild implements Task {
  readonly kind = 'delete-child';
  readonly exchange = ExchangeType.INFORMATIONAL;
  constructor(readonly spiIn: number) {}

  build(): Payload[] {
    return deleteChildPayloads([this.spiIn]);
  }

  process(ctx: SaContext, _m: Received, out: Effect[]): TaskResult {
    const c = ctx.children.find((x) => x.spiIn === this.spiIn);
    if (c) removeChild(ctx, c, c.redundant ? 'redundant' : c.replacedBy !== undefined ? 'rekeyed' : 'local', out);
    return {};
  }
}

/**
 * An empty INFORMATIONAL request: the peer must answer (RFC 7296 §2.4). As a `mapping-probe`
 * it goes to a new address/port of the peer after an unauthenticated hint that its NAT
 * mapping changed (failure map F8): the authenticated answer moves the peer (the IKE SA
 * follows it, §2.23), but no answer proves nothing (the hint may be forged), so the SA is
 * left as it was, and the Message ID is not consumed (the peer may never have seen it).
 */
export class Liveness implements Task {
  readonly exchange = ExchangeType.INFORMATIONAL;
  constructor(readonly kind: 'liveness' | 'mapping-probe' = 'liveness') {}

  build(): Payload[] {
    return [];
  }

  process(_ctx: SaContext, _m: Received, out: Effect[]): TaskResult {
    out.push(event({ type: 'liveness', ok: true }));
    return {};
  }

  giveUp(_ctx: SaContext, g: GaveUp, out: Effect[]): TaskResult {
    if (this.kind === 'mapping-probe') return {};
    out.push(event({ type: 'liveness', ok: false, requests: g.retransmits + 1, to: g.to }));
    return { end: { to: 'DELETED', reason: 'dead-peer' } };
  }
}

/** RFC 7296 §2.21.2: the initiator tells the responder it could not authenticate it, once. */
export class AuthFailedNotice implements Task {
  readonly kind = 'auth-failed';
  readonly exchange = ExchangeType.INFORMATIONAL;

  build(): Payload[] {
    return [notify(NotifyType.AUTHENTICATION_FAILED)];
  }

  process(): TaskResult {
    return {};
  }
}

/** Responder side of any INFORMATIONAL request. */
export class InformationalResponder implements Task {
  readonly kind = 'informational';
  readonly exchange = ExchangeType.INFORMATIONAL;

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    const p = m.payloads;
    // RFC 7296 §2.21.2: the initiator could not authenticate us and says so in an INFORMATIONAL
    if (findNotify(p, NotifyType.AUTHENTICATION_FAILED)) {
      // after our EAP method refused the peer (F3 already said why), this is only its answer to that
      if (!ctx.eap?.rejected) out.push(event({ type: 'failure', row: 'F3', message: 'the initiator rejected our authentication (AUTHENTICATION_FAILED)', evidence: { check: 'peer-rejected', notify: 'AUTHENTICATION_FAILED', sent: sentAuthentication(ctx, undefined) } }));
      return { response: [], end: { to: 'FAILED', reason: 'failed' } };
    }
    const deletes = all(p, 'D') as DeletePayload[];
    // RFC 7296 §1.4.1: a Delete of the IKE SA takes its Child SAs with it; the response is empty
    if (deletes.some((d) => d.protocol === ProtocolId.IKE)) return { response: [], end: { to: 'DELETED', reason: 'peer' as EndReason, peerDeleted: true } };
    const ours: number[] = [];
    for (const d of deletes) {
      if (d.protocol !== ProtocolId.ESP || d.spiSize !== 4) continue;
      for (const spi of d.spis) {
        // the peer names its inbound SPI, which is our outbound one
        const c = ctx.children.find((x) => x.spiOut === spiNumber(spi) && x.state !== 'DELETED');
        if (!c) continue;
        // RFC 7296 §1.4.1: Deletes that cross: remove it now, and name it not again in the response
        if (c.state !== 'DELETING') ours.push(c.spiIn);
        // make-before-break (src/daemon, step 2): the rekey initiator deletes the replaced SA,
        // so it has our response and we can now send on the new SA
        const next = c.replacedBy === undefined ? undefined : ctx.children.find((x) => x.spiIn === c.replacedBy && x.state !== 'DELETED');
        if (next && !next.redundant) switchOutbound(ctx, next, out);
        removeChild(ctx, c, c.redundant ? 'redundant' : c.state === 'REKEYED' || c.replacedBy !== undefined ? 'rekeyed' : 'peer', out);
      }
    }
    // RFC 7296 §1.4.1: the response carries Deletes for the paired SAs in the other direction
    return { response: ours.length ? deleteChildPayloads(ours) : [] };
  }
}
