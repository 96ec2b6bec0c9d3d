// A roaming client (RFC 4555, MOBIKE): notices that the address this host uses towards the
// peer changed, has the daemon rebind its sockets (IKE on 500 and 4500, raw ESP) to the new
// address, and moves each IKE SA there (IkeSa.moveLocal: UPDATE_SA_ADDRESSES with NAT-D). An
// IKE SA without MOBIKE cannot move: its connection reauthenticates from the new address.
//
// How a change is noticed: `ip monitor address route` (io/address-watch.ts) wakes us on every
// address or route change, at once and without polling; each wake-up asks the kernel which
// source it now picks for our IKE to the peer (io/routes.ts outerSource, one `ip route get`).
// The daemon's 10 s periodic check asks too, in case the monitor died.
import type { Endpoint } from '../ike/config.js';
import type { Effect } from '../ike/effects.js';
import type { IkeSa } from '../ike/ike-sa.js';
import { watchAddresses, type AddressWatch } from '../io/address-watch.js';
import { outerSource } from '../io/routes.js';
import { errText, type Logger } from './log.js';

export interface RoamingHost {
  /** The peer (the gateway), and our IKE port (the routing-trap rules select on it). */
  peer: Endpoint;
  ikePort: number;
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

  constructor(private readonly host: RoamingHost, private current: string) {
    this.watch = watchAddresses(() => this.check(), (why) => host.log.warn('daemon', `address monitor stopped (${why}): an address change is noticed only at the 10 s check`));
  }

  /** The outer address in use now. */
  get local(): string {
    return this.current;
  }

  /** Has the source towards the peer changed? Then rebind and move the IKE SAs. */
  check(): void {
    const h = this.host;
    const src = outerSource(h.peer.addr, h.ikePort);
    if (src === undefined || src === this.current) return; // no route at all (yet): wait for the next change
    const from = this.current;
    try {
      h.rebind(src);
    } catch (e) {
      h.log.error('daemon', `our outer address moved from ${from} to ${src}, but the sockets could not be reopened there: ${errText(e)}`);
      return;
    }
    this.current = src;
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
      h.log.warn('daemon', `MOBIKE was not negotiated with ${h.peer.addr} (mobike off on either end): the IKE SA cannot move, reauthenticating from ${src}`);
      h.reauthenticate();
    }
  }

  close(): void {
    this.watch.close();
  }
}
