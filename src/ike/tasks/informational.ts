// INFORMATIONAL exchanges (RFC 7296 §1.4): Delete of the IKE SA or of Child SAs (§1.4.1),
// and the empty request that checks liveness (§2.4).
import { NotifyType, ProtocolId } from '../../wire/constants.js';
import type { DeletePayload, Payload } from '../../wire/types.js';
import { event, type Effect } from '../effects.js';
import { all, findNotify } from '../payloads.js';
import { type ChildSa, type SaContext } from '../sa-context.js';
import { formatSelector } from '../../wire/selectors.js';
import { switchOutbound } from './child-rekey.js';
import { spiBytes, spiHex, spiNumber } from '../../wire/spi.js';

export type ChildRemoval = 'local' | 'peer' | 'ike-deleted' | 'rekeyed' | 'redundant' | 'expired';

export function deleteIkePayloads(): Payload[] {
  return [{ kind: 'D', critical: false, protocol: ProtocolId.IKE, spiSize: 0, spis: [] }]; // RFC 7296 §3.11: no SPI for IKE
}

/** RFC 7296 §3.11: Delete for ESP names the SPI the sender expects in inbound packets. */
export function deleteChildPayloads(spisIn: number[]): Payload[] {
  return [{ kind: 'D', critical: false, protocol: ProtocolId.ESP, spiSize: 4, spis: spisIn.map(spiBytes) }];
}

/** Tell the caller to remove a Child SA's state, and its policy if it owns it (effects.ts, make-before-break). */
export function removeChild(ctx: SaContext, c: ChildSa, reason: ChildRemoval, out: Effect[]): void {
  if (c.state === 'DELETED') return;
  c.state = 'DELETED';
  const localTs = c.localTs.map(formatSelector);
  const remoteTs = c.remoteTs.map(formatSelector);
  if (c.ownsPolicy !== false) out.push({ type: 'remove-policy', policy: { name: c.name, localTs, remoteTs, spiIn: c.spiIn, spiOut: c.spiOut, mode: c.mode } });
  out.push(
    { type: 'remove-sa', name: c.name, spiIn: c.spiIn, spiOut: c.spiOut },
    event({ type: 'child-deleted', name: c.name, spiIn: spiHex(c.spiIn), spiOut: spiHex(c.spiOut), reason }),
  );
  ctx.children = ctx.children.filter((x) => x !== c);
}

export function removeAllChildren(ctx: SaContext, reason: ChildRemoval, out: Effect[]): void {
  for (const c of [...ctx.children]) removeChild(ctx, c, reason, out);
}

export type InformationalResult = { response: Payload[]; deleteIke: boolean; authFailed?: boolean };

/** Responder side of an INFORMATIONAL request. */
export function processInformationalRequest(ctx: SaContext, p: Payload[], out: Effect[]): InformationalResult {
  // RFC 7296 §2.21.2: the initiator could not authenticate us and says so in an INFORMATIONAL
  if (findNotify(p, NotifyType.AUTHENTICATION_FAILED)) return { response: [], deleteIke: true, authFailed: true };
  const deletes = all(p, 'D') as DeletePayload[];
  // RFC 7296 §1.4.1: a Delete of the IKE SA takes its Child SAs with it; the response is empty
  if (deletes.some((d) => d.protocol === ProtocolId.IKE)) return { response: [], deleteIke: true };
  const ours: number[] = [];
  for (const d of deletes) {
    if (d.protocol !== ProtocolId.ESP || d.spiSize !== 4) continue;
    for (const spi of d.spis) {
      // the peer names its inbound SPI, which is our outbound one
      const c = ctx.children.find((x) => x.spiOut === spiNumber(spi) && x.state !== 'DELETED');
      if (!c) continue;
      // RFC 7296 §1.4.1: Deletes that cross: remove it now, and name it not again in the response
      if (c.state !== 'DELETING') ours.push(c.spiIn);
      // make-before-break (effects.ts step 2): the rekey initiator deletes the replaced SA, so
      // it has our response and we can now send on the new SA
      const next = c.replacedBy === undefined ? undefined : ctx.children.find((x) => x.spiIn === c.replacedBy && x.state !== 'DELETED');
      if (next && !next.redundant) switchOutbound(ctx, next, out);
      removeChild(ctx, c, c.redundant ? 'redundant' : c.state === 'REKEYED' || c.replacedBy !== undefined ? 'rekeyed' : 'peer', out);
    }
  }
  // RFC 7296 §1.4.1: the response carries Deletes for the paired SAs in the other direction
  return { response: ours.length ? deleteChildPayloads(ours) : [], deleteIke: false };
}
