// peer.json `dpdAction: "hold"` (swanctl dpd_action = trap): after a dead peer, the remote
// selectors stay routed into the TUN with no SA behind them, and the first packet that
// arrives there starts a new IKE SA. The connection layer (src/ike/connection.ts) decides
// when to hold and initiates; this file routes and recognises tunnel traffic. The Child SA's
// own routes replace these ones. The
// routes are the daemon's own kind (tunnel prefixes, or transport mode's policy rules that
// keep tsvpn's IKE and ESP out of the TUN), so they come from its installer.
import type { PeerConfig } from '../config/types.js';
import { selectorCidrs } from '../wire/selectors.js';
import type { Logger } from './log.js';
import { packetMatches } from '../ipsec/spd.js';
import { decodeIpPacket } from '../wire/ip.js';

export class OnDemand {
  private routes: unknown;
  private sprung = false;

  constructor(
    private readonly o: {
      peer: PeerConfig;
      /** The daemon's route installer and remover (the same the Child SA's routes use). */
      install: (remote: string[]) => unknown;
      remove: (handle: unknown) => void;
      log: Logger;
    },
  ) {}

  /** True while a packet into the TUN should start the tunnel (read once per TUN batch). */
  get armed(): boolean {
    return this.routes !== undefined && !this.sprung;
  }

  /** Route the remote selectors into the TUN and wait for traffic; false when the routes fail (then initiate now). */
  arm(): boolean {
    if (this.routes) return true;
    const p = this.o.peer;
    try {
      this.routes = this.o.install(selectorCidrs(p.remote.tsText));
      this.o.log.info('ike', `hold: traffic to ${p.remote.tsText.join(', ')} will start a new IKE SA`);
      return true;
    } catch (e) {
      this.o.log.error('route', `hold: on-demand routes failed (${e instanceof Error ? e.message : String(e)}), initiating now`);
      return false;
    }
  }

  /**
   * A TUN batch arrived while armed: true, once, if a packet in it is tunnel traffic (the
   * kernel also sends its own packets into a fresh device, IPv6 router solicitations for
   * one, and those must not start anything). The routes stay until the Child SA's replace them.
   */
  offer(b: { buf: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; count: number }): boolean {
    const p = this.o.peer;
    for (let i = 0; i < b.count; i++) {
      let view;
      try {
        view = decodeIpPacket(b.buf.subarray(b.offsets[i], b.offsets[i] + b.lengths[i]));
      } catch {
        continue;
      }
      if (packetMatches(view, p.local.ts, p.remote.ts)) return (this.sprung = true);
    }
    return false;
  }

  /** Remove the on-demand routes (before the Child SA installs its own, and at shutdown). */
  clear(): void {
    const r = this.routes;
    this.routes = undefined;
    this.sprung = false;
    if (r !== undefined) this.o.remove(r);
  }
}
