// A roaming client (RFC 4555, MOBIKE): notices that the address this host uses towards the
// peer changed, has the daemon rebind its sockets (IKE on 500 and 4500, raw ESP) to the new
// address, and moves each IKE SA there (IkeSa.moveLocal: UPDATE_SA_ADDRESSES with NAT-D). An
// IKE SA without MOBIKE cannot move: its connection reauthenticates from the new address.
//
// How a change is noticed: `ip monitor address route` (io/address-watch.ts) wakes us on every
// address or route change, at once and without polling; each wake-up asks the kernel which
// source it now picks for our IKE to the peer (io/routes.ts outerSource, one `ip route get`).
// The daemon's 10 s periodic check asks too, in case the monitor died.
//
// When it moves: local.addr was the kernel's own choice towards the peer at start, and the
// kernel now picks another source (the address went, or a route through another link won).
// A local.addr that was not the kernel's choice (a host with several addresses, one tunnel
// bound to each) is kept as long as it exists on the host; once it is gone, the kernel's
// choice is taken and followed from then on.
import type { Effect } from '../ike/effects.js';
import type { IkeSa } from '../ike/ike-sa.js';
import type { AddressWatch } from '../io/address-watch.js';
import { errText, type Logger } from './log.js';

export interface RoamingHost {
  /** The peer's address (the gateway), for the log. */
  peer: string;
  /** The source the kernel picks now for our IKE to the peer (io/routes.ts outerSource), undefined without a route. */
  source(): string | undefined;
  /** Start the address monitor (io/address-watch.ts watchAddresses): `changed` after each burst of changes. */
  watch(changed: () => void, failed: (why: string) => void): AddressWatch;
  /** Is `addr` on one of this host's interfaces? */
  hasAddress(addr: string): boolean;
  /** Reopen the sockets on `addr`; throws when it cannot (the old ones stay then). */
  rebind(addr: string): void;
  ikeSas(): IkeSa[];
  /** Apply an IKE SA's effects as a command. */
  apply(sa: IkeSa, fx: Effect[]): void;
  /** The SAs cannot follow (no MOBIKE): the connection reauthenticates (Connection.addressMoved). */
  reauthenticate(): void;
  now(): number;
  log: Logger;
}

export class Roaming {
  private readonly watch: AddressWatch;
  /** The current address is the kernel's choice towards the peer (see the top of this file). */
  private followsRoute: boolean;

  constructor(private readonly host: RoamingHost, private current: string) {
    this.followsRoute = host.source() === current;
    this.watch = host.watch(() => this.check(), (why) => host.log.warn('daemon', `address monitor stopped (${why}): an address change is noticed only at the 10 s check`));
  }

  /** The outer address in use now. */
  get local(): string {
    return this.current;
  }

  /** Has the source towards the peer changed? Then rebind and move the IKE SAs. */
  check(): void {
    const h = this.host;
    const src = h.source();
    if (src === undefined || src === this.current) return; // no route at all (yet): wait for the next change
    if (!this.followsRoute && h.hasAddress(this.current)) return; // an address of several, chosen in peer.json: kept while it exists
    const from = this.current;
    try {
      h.rebind(src);
    } catch (e) {
      h.log.error('daemon', `our outer address moved from ${from} to ${src}, but the sockets could not be reopened there: ${errText(e)}`);
      return;
    }
    this.current = src;
    this.followsRoute = true;
    h.log.info('daemon', `our outer address moved from ${from} to ${src}: IKE and ESP sockets reopened there`);
    const now = h.now();
    let reauth = false;
    for (const sa of h.ikeSas()) {
      if (sa.state !== 'ESTABLISHED' || sa.role !== 'initiator') continue;
      const fx = sa.moveLocal(now, src);
      if (fx) h.apply(sa, fx);
      else reauth = true;
    }
    if (reauth) {
      h.log.warn('daemon', `MOBIKE was not negotiated with ${h.peer} (mobike off on either end): the IKE SA cannot move, reauthenticating from ${src}`);
      h.reauthenticate();
    }
  }

  close(): void {
    this.watch.close();
  }
}
