// What the daemon keeps per installed Child SA (by our inbound SPI): read by the effect
// applier, the SPD ordering of make-before-break and `tsvpn status`.
import type { ChildSaInfo } from '../ike/effects.js';
import type { EspSa } from '../ipsec/sad.js';
import type { SpdEntry } from '../ipsec/spd.js';

export interface ChildRecord {
  info: Omit<ChildSaInfo, 'keysIn' | 'keysOut'>;
  inSa: EspSa;
  outSa: EspSa;
  installedAt: number;
  rekeys: number;
  /** Its PROTECT entry in the SPD, while it has one (a rekeyed SA hands it on). */
  entry?: SpdEntry;
  /** Route prefixes this Child SA holds a reference on (src/daemon/route-refs.ts). */
  routes: string[];
  /** Why its routes could not be installed (F5): it is installed but carries nothing. */
  routeError?: string;
}

/**
 * Which Child SAs are one tunnel over time (a rekey's or a reauthentication's new SA replaces
 * the old one of the same lineage): same connection, same peer, same child name. A `%any`
 * connection has one lineage per peer.
 */
export const lineage = (info: ChildRecord['info']): string => `${info.conn}|${info.remote.addr}|${info.name}`;
