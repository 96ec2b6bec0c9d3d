// Security Policy Database (RFC 4301 §4.4.1): an ordered list of entries, first match wins.
// The outbound datapath looks up each inner packet read from the TUN: source within
// `local`, destination within `remote`, protocol and ports as the selectors say. The entry
// decides PROTECT (with its outbound SA), BYPASS or DISCARD (RFC 4301 §5.1 step 1).

import { IpProtocol } from '../wire/constants.js';
import type { TrafficSelector } from '../wire/types.js';
import type { IpPacketView } from '../wire/ip.js';
import { selectorCovers, type PacketSelectorFields } from '../wire/selectors.js';
import type { EspSa } from './sad.js';

export type SpdAction = 'protect' | 'bypass' | 'discard';

export interface SpdEntry {
  /** For status output and logs (e.g. the Child SA name). */
  name?: string;
  local: TrafficSelector[];
  remote: TrafficSelector[];
  action: SpdAction;
  /** The outbound SA of a PROTECT entry; absent while none is installed. */
  sa?: EspSa;
  /** Outbound packets this entry matched (set and counted by the SPD). */
  hits?: number;
}

/**
 * Does the packet's source fall within `srcList` and its destination within `dstList`,
 * protocol and ports included? For ICMP and ICMPv6 the "port" is (type << 8) | code
 * (RFC 7296 §3.13.1), tested on both sides. No allocation.
 */
export function packetMatches(view: IpPacketView, srcList: readonly TrafficSelector[], dstList: readonly TrafficSelector[]): boolean {
  const fields = selectorFields(view);
  return selectorCovers(srcList, fields, 'src') && selectorCovers(dstList, fields, 'dst');
}

const icmpScratch: PacketSelectorFields = { version: 4, protocol: 0 };

function selectorFields(view: IpPacketView): PacketSelectorFields {
  const icmp = view.version === 4 ? IpProtocol.ICMP : IpProtocol.ICMPV6;
  if (view.protocol !== icmp) return view;
  const port = view.icmpType === undefined ? undefined : (view.icmpType << 8) | (view.icmpCode ?? 0);
  icmpScratch.version = view.version;
  icmpScratch.protocol = view.protocol;
  icmpScratch.src = view.src;
  icmpScratch.dst = view.dst;
  icmpScratch.srcPort = port;
  icmpScratch.dstPort = port;
  return icmpScratch;
}

export class SpdConfigError extends Error {
  override name = 'SpdConfigError';
}

export class Spd {
  private readonly entries: SpdEntry[] = [];

  /** Insert an entry at `position` (default: the end, i.e. lowest priority). Returns it. */
  add(entry: SpdEntry, position = this.entries.length): SpdEntry {
    if (entry.local.length === 0 || entry.remote.length === 0) {
      throw new SpdConfigError('an SPD entry needs at least one local and one remote selector');
    }
    if (entry.action !== 'protect' && entry.sa) throw new SpdConfigError(`a ${entry.action} entry cannot carry an SA`);
    entry.hits = 0;
    this.entries.splice(Math.max(0, Math.min(position, this.entries.length)), 0, entry);
    return entry;
  }

  /** Remove an entry (its SA, if any, stays in the SAD until removed there). */
  remove(entry: SpdEntry): boolean {
    const i = this.entries.indexOf(entry);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    return true;
  }

  /** Point a PROTECT entry at a new outbound SA (rekey) or at none. */
  setSa(entry: SpdEntry, sa: EspSa | undefined): void {
    if (entry.action !== 'protect') throw new SpdConfigError(`a ${entry.action} entry cannot carry an SA`);
    entry.sa = sa;
  }

  /** The entries in priority order (a copy of the list; the entries themselves are live). */
  list(): SpdEntry[] {
    return [...this.entries];
  }

  /** RFC 4301 §5.1 step 1: the first entry whose selectors match the outbound packet. */
  lookup(view: IpPacketView): SpdEntry | undefined {
    const fields = selectorFields(view);
    for (const e of this.entries) {
      if (selectorCovers(e.local, fields, 'src') && selectorCovers(e.remote, fields, 'dst')) {
        e.hits = (e.hits ?? 0) + 1;
        return e;
      }
    }
    return undefined;
  }
}
