// Which Child SA takes the traffic when two cover the same selectors (make-before-break:
// rekey, RFC 7296 §2.8, and reauthentication, §2.8.3). The SPD's first match wins (RFC 4301
// §4.4.1), so the newest Child SA's PROTECT entry goes first, except one the peer is making
// while ours is in use: until our IKE_AUTH response reaches the peer it has no inbound SA for
// it, so its entry waits behind the old one until the peer sends on it or deletes the old SA.
import type { NewPolicyInfo } from '../ike/effects.js';
import type { EspSa } from '../ipsec/sad.js';
import type { Spd } from '../ipsec/spd.js';
import { parseSelector } from '../wire/selectors.js';
import { spiHex } from '../wire/spi.js';
import { lineage, type ChildRecord } from './child-record.js';
import type { Logger } from './log.js';

export class PolicyOrder {
  /** Child SAs the peer made whose entry waits behind the SA in use, by inbound SA. */
  private readonly waiting = new Map<EspSa, ChildRecord>();

  constructor(
    private readonly spd: Spd,
    private readonly log: Logger,
  ) {}

  /** Is a Child SA waiting for the peer's first packet on it? */
  get awaitingPeer(): boolean {
    return this.waiting.size > 0;
  }

  /** Give `c` its SPD entry: first, or behind another Child SA of its lineage in `children` (p.active false). */
  add(c: ChildRecord, p: NewPolicyInfo, children: Iterable<ChildRecord>): void {
    let current = false;
    for (const o of children) if (o !== c && o.entry && lineage(o.info) === lineage(c.info)) current = true;
    const behind = current && !p.active;
    c.entry = this.spd.add({ name: p.name, local: p.localTs.map(parseSelector), remote: p.remoteTs.map(parseSelector), action: 'protect', sa: c.outSa }, behind ? undefined : 0);
    if (behind) {
      this.waiting.set(c.inSa, c);
      this.log.info('esp', `Child SA ${p.name} (SPI in ${spiHex(p.spiIn)}) waits behind the SA in use until the peer sends on it or deletes the old one`);
    }
  }

  /**
   * Authenticated ESP arrived on `inSa`. If that is a Child SA the peer made in its
   * reauthentication, still waiting behind the old one, the peer has installed it (it sends on
   * it): send on it too from now on, instead of waiting for its Delete of the old IKE SA, which
   * it may act on before our last packets on the old SA reach it.
   */
  peerSendsOn(inSa: EspSa): void {
    const c = this.waiting.get(inSa);
    if (!c) return;
    this.waiting.delete(inSa);
    if (!c.entry) return;
    this.spd.remove(c.entry);
    this.spd.add(c.entry, 0); // RFC 4301 §4.4.1: first match wins
    this.log.info('esp', `Child SA ${c.info.name}: the peer sends on SPI ${spiHex(c.info.spiIn)}, so we send on SPI ${spiHex(c.info.spiOut)} from now on`);
  }

  /** Rekey (make-before-break, step 2): `from`'s entry now sends on `to`'s outbound SA. */
  hand(from: ChildRecord, to: ChildRecord): void {
    if (!from.entry) return;
    this.spd.setSa(from.entry, to.outSa); // traffic leaves on the new SPI from the next batch on
    to.entry = from.entry;
    from.entry = undefined;
  }

  /** `c` no longer protects traffic: its entry goes, and a replacement that waited behind it comes first. */
  remove(c: ChildRecord): void {
    if (c.entry) this.spd.remove(c.entry);
    c.entry = undefined;
    for (const [sa, w] of this.waiting) if (lineage(w.info) === lineage(c.info)) this.waiting.delete(sa);
  }

  /** `c` is gone: stop waiting for the peer on it. */
  forget(c: ChildRecord): void {
    this.waiting.delete(c.inSa);
  }
}
