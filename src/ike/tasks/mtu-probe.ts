// Path MTU probe over IKE (failure map F7, packetization-layer PMTUD after RFC 8899 §4.1):
// an empty INFORMATIONAL request, which the peer must answer (RFC 7296 §2.4), padded to a
// chosen size with a Notify of a private-use status type (RFC 7296 §3.10.1: a status type
// the peer does not recognize MUST be ignored). The datagram goes with DF set, as all our
// outer packets (docs/failure-map.md F7), so a router with a smaller MTU drops it: when no
// ICMP comes back either, nothing else would notice.
//
// The first transmission has the largest size; each retransmission is the same request at
// the next size of the list and, after the list, without padding (RFC 7296 §2.1 matches a
// retransmission by Message ID). The answer tells which size passed: the last one sent
// before it. Nothing answered at any size: the peer is dead, as for a liveness check.
import { ExchangeType } from '../../wire/constants.js';
import { GENERIC_HEADER_LENGTH } from '../../wire/chain.js';
import { IKE_HEADER_LENGTH } from '../../wire/message.js';
import type { Payload } from '../../wire/types.js';
import { event, type Effect } from '../effects.js';
import { notify } from '../payloads.js';
import type { SaContext } from '../sa-context.js';
import type { GaveUp, Received, Task, TaskResult } from '../task.js';
import { Liveness } from './informational.js';

/** A status Notify type from the private-use range 40960-65535 (RFC 7296 §3.10.1) that only pads. */
export const MTU_PROBE_PADDING = 0xf007; // strongSwan uses 40960-40971 (40969 is its RADIUS_ATTRIBUTE)
// RFC 7296 §3.10: generic payload header, Protocol ID, SPI Size, Notify Message Type (no SPI)
const NOTIFY_FIXED = GENERIC_HEADER_LENGTH + 4;

/**
 * The Notify data length that makes a protected IKE message (header, SK payload around one
 * Notify) as long as possible but at most `length` octets; -1 when not even an empty Notify fits.
 */
export function paddingFor(length: number, sealedLength: (inner: number) => number): number {
  const total = (d: number) => IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + sealedLength(NOTIFY_FIXED + d);
  let d = Math.max(0, length - total(0));
  while (d >= 0 && total(d) > length) d--; // the cipher's padding rounds up by less than a block
  return d;
}

export class MtuProbe implements Task {
  readonly kind = 'mtu-probe';
  readonly exchange = ExchangeType.INFORMATIONAL;
  /** The IKE message length of each transmission so far, in order. */
  readonly sent: number[] = [];

  /** `lengths`: the IKE message lengths to try, largest first. */
  constructor(private readonly lengths: readonly number[]) {}

  build(ctx: SaContext): Payload[] {
    return this.padded(ctx, 0);
  }

  retransmit(ctx: SaContext, attempt: number): Payload[] {
    return this.padded(ctx, attempt);
  }

  process(_ctx: SaContext, _m: Received, out: Effect[]): TaskResult {
    out.push(event({ type: 'mtu-probe', sent: [...this.sent], answered: this.sent[this.sent.length - 1] ?? 0 }));
    return {};
  }

  giveUp(ctx: SaContext, g: GaveUp, out: Effect[]): TaskResult {
    return new Liveness().giveUp(ctx, g, out); // no size was answered: the peer is gone (RFC 7296 §2.4)
  }

  private padded(ctx: SaContext, attempt: number): Payload[] {
    const cipher = ctx.keys!.out;
    const want = this.lengths[attempt];
    const d = want === undefined ? -1 : paddingFor(want, (n) => cipher.sealedLength(n));
    const payloads = d < 0 ? [] : [notify(MTU_PROBE_PADDING, new Uint8Array(d))];
    this.sent.push(IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + cipher.sealedLength(d < 0 ? 0 : NOTIFY_FIXED + d));
    return payloads;
  }
}
