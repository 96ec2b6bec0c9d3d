// The kill switch of a client daemon (peer.json `killSwitch`): loaded at start, before any
// IKE SA, and kept whatever the tunnel does (with the gateway gone nothing leaves in clear:
// that is the point) until shutdown. A table a SIGKILLed run left is replaced here, or
// removed when the file no longer asks for one. The table itself: io/kill-switch-rules.ts.
import { installKillSwitch, killSwitchDrops, killSwitchTable, removeKillSwitch } from '../io/kill-switch.js';
import { linkPrefixes } from '../io/routes.js';
import { ANY, type GatewayConfig } from '../config/types.js';
import type { Logger } from './log.js';

// Implementation choice: `nft` runs synchronously, on the datapath's event loop; a status asked
// for often (metrics scrapes, peer announcements) reads the counter at most once a second.
const DROPS_READ_MS = 1000;

export class KillSwitch {
  private drops: { at: number; value: number | null } | undefined;

  private constructor(
    private readonly name: string,
    /** The nft table (`inet tsvpn_<name>`). */
    readonly table: string,
    /** allowLan: the host's own links, kept out of the tunnel routes too (io/route-plan.ts `bypass`). */
    readonly lan: readonly string[],
  ) {}

  /**
   * Load the kill switch when a connection asks for one (throws KillSwitchError: no nft, or nft
   * refused the table); otherwise remove a table a previous run left. `dev`: the TUN.
   */
  static arm(gw: GatewayConfig, dev: string, log: Logger): KillSwitch | undefined {
    const asking = gw.connections.filter((c) => c.killSwitch && c.remote.addr !== ANY);
    if (asking.length === 0) {
      if (removeKillSwitch(gw.name)) log.info('daemon', `removed the kill switch (nft table inet ${killSwitchTable(gw.name)}) a previous run left`);
      return undefined;
    }
    const lan = asking.some((c) => c.killSwitch!.allowLan) ? linkPrefixes(dev) : [];
    installKillSwitch({ name: gw.name, dev, gateways: asking.map((c) => ({ addr: c.remote.addr, port: c.remote.port })), lan });
    const ks = new KillSwitch(gw.name, `inet ${killSwitchTable(gw.name)}`, lan);
    const lanText = lan.length > 0 ? `, the LAN (${lan.join(', ')})` : '';
    log.info('daemon', `kill switch on (nft table ${ks.table}): nothing leaves outside ${dev} but IKE and ESP to ${asking.map((c) => c.remote.addr).join(', ')}${lanText}, loopback, DHCP and neighbour discovery`);
    return ks;
  }

  /** Packets dropped since the table was loaded (as read at most DROPS_READ_MS ago); null when the table is gone (someone deleted it). */
  dropped(now = Date.now()): number | null {
    if (!this.drops || now - this.drops.at >= DROPS_READ_MS) this.drops = { at: now, value: killSwitchDrops(this.name) ?? null };
    return this.drops.value;
  }

  /** Shutdown (`down`, SIGTERM): the table goes, traffic flows in clear again. */
  close(): void {
    removeKillSwitch(this.name);
  }

  /** A fatal error ends the daemon: the table stays, as after a SIGKILL, and the log says how to lift it. */
  keep(log: Logger): void {
    log.warn('daemon', `kill switch kept (nft table ${this.table}): nothing leaves outside the tunnel until the next tsvpn up of ${this.name}, or nft delete table ${this.table}`);
  }
}
