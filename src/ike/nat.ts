// NAT detection (RFC 7296 §2.23) and the address text -> bytes conversion it needs.
import { sha1 } from '@noble/hashes/legacy.js';
import type { Endpoint } from './config.js';
import { IKE_PORT, NotifyType } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import { notify } from './payloads.js';

export class AddressError extends Error {
  constructor(readonly text: string) {
    super(`not an IPv4 or IPv6 address: ${JSON.stringify(text)}`);
    this.name = 'AddressError';
  }
}

/** "192.0.2.1" -> 4 bytes, "2001:db8::1" -> 16 bytes; throws AddressError. */
export function addressBytes(text: string): Uint8Array {
  if (text.includes(':')) return ipv6Bytes(text);
  const parts = text.split('.');
  if (parts.length !== 4) throw new AddressError(text);
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new AddressError(text);
    out[i] = Number(p);
  });
  return out;
}

function ipv6Bytes(text: string): Uint8Array {
  const halves = text.split('::');
  if (halves.length > 2) throw new AddressError(text);
  const groups = (s: string): number[] => {
    if (s === '') return [];
    return s.split(':').flatMap((g, i, all) => {
      if (i === all.length - 1 && g.includes('.')) {
        const v4 = addressBytes(g);
        return [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new AddressError(text);
      return [parseInt(g, 16)];
    });
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || (halves.length === 2 && fill < 1)) throw new AddressError(text);
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** RFC 7296 §2.23: NAT_DETECTION_*_IP data = SHA-1(SPIi | SPIr | IP address | port). */
export function natDetectionHash(spiI: Uint8Array, spiR: Uint8Array, ep: Endpoint): Uint8Array {
  const ip = addressBytes(ep.addr);
  const buf = new Uint8Array(16 + ip.length + 2);
  buf.set(spiI, 0);
  buf.set(spiR, 8);
  buf.set(ip, 16);
  buf[16 + ip.length] = ep.port >> 8;
  buf[16 + ip.length + 1] = ep.port & 0xff;
  return sha1(buf);
}

/** RFC 7296 §2.23: NAT_DETECTION_SOURCE_IP and _DESTINATION_IP for the path `local` -> `remote` (IKE_SA_INIT; MOBIKE updates, RFC 4555 §3.5). */
export function natPayloads(spis: { spiI: Uint8Array; spiR: Uint8Array }, local: Endpoint, remote: Endpoint): Payload[] {
  return [
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, natDetectionHash(spis.spiI, spis.spiR, local)),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(spis.spiI, spis.spiR, remote)),
  ];
}

/**
 * RFC 7296 §2.23: the receiver of NAT_DETECTION_SOURCE_IP compares each with the hash of the
 * packet's source; no match means the peer is behind a NAT. DESTINATION_IP against our own
 * address: no match means we are behind a NAT.
 */
export function detectNat(
  spiI: Uint8Array,
  spiR: Uint8Array,
  sourceHashes: Uint8Array[],
  destinationHashes: Uint8Array[],
  packetFrom: Endpoint,
  packetTo: Endpoint,
): { local: boolean; remote: boolean } | undefined {
  if (sourceHashes.length === 0 || destinationHashes.length === 0) return undefined; // peer does not do NAT-T
  const src = natDetectionHash(spiI, spiR, packetFrom);
  const dst = natDetectionHash(spiI, spiR, packetTo);
  const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  return { remote: !sourceHashes.some((h) => eq(h, src)), local: !destinationHashes.some((h) => eq(h, dst)) };
}

/** What NAT detection found; `peerForcesEncap`: see peerForcesEncap. */
export interface NatResult {
  local: boolean;
  remote: boolean;
  peerForcesEncap?: true;
}

/**
 * A peer whose NAT_DETECTION_SOURCE_IP does not match (RFC 7296 §2.23: "behind a NAT") although
 * its IKE_SA_INIT came from exactly the address we expect, on port 500, while we are not
 * behind a NAT: no NAT changed anything we can see. strongSwan fakes its NAT-D hash this way to
 * force UDP encapsulation (`encap = yes`, and always with kernel-libipsec). A 1:1 port forward
 * in front of the peer looks the same. `expected`: the configured peer address (undefined for %any).
 */
export function withForcedEncap(nat: { local: boolean; remote: boolean }, from: Endpoint, expected: Endpoint | undefined): NatResult {
  const forced = nat.remote && !nat.local && expected !== undefined && from.addr === expected.addr && from.port === IKE_PORT;
  return forced ? { ...nat, peerForcesEncap: true } : nat;
}
