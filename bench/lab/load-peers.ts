// Who the handshake bench's simulated peers are and what the gateway under test accepts:
// peer i (0-based) sends from its own outer address in 198.18.0.0/15 (RFC 2544's benchmark
// range), proves peer<i>.bench.example with the shared PSK, and asks for one Child SA from
// its own inner /32 in 10.128.0.0/9 to the gateway's 10.0.0.0/16. The gateway has one
// connection for all of them: remote address and id %any, remote ts 10.128.0.0/9, so each
// peer's /32 is a narrowing the gateway accepts (RFC 7296 §2.9).
import { toIkeSaConfig } from '../../src/config/ike-config.js';
import { parsePeerConfig, type PeerBodyJson } from '../../src/config/load.js';
import type { IkeSaConfig } from '../../src/ike/config.js';
import { ESP_PROPOSAL, IKE_PROPOSAL } from './leg.js';

export const GATEWAY_ID = 'gw.bench.example';
export const GATEWAY_NET = '10.0.0.0/16';
export const PEERS_NET = '10.128.0.0/9';
/** The generator's source addresses (RFC 2544 §C.2.2: 198.18.0.0/15 is for benchmarks). */
export const SOURCES_NET = '198.18.0.0/15';
/** The environment variable the PSK travels in (never on a command line). */
export const PSK_ENV = 'TSVPN_BENCH_PSK';
/** Peer counts the 198.18.0.0/15 and 10.128.0.0/9 plans have room for. */
export const MAX_PEERS = 100_000;

/** The IPv4 address `n` after `base` (a 32-bit number), dotted. */
const quad = (base: number, n: number): string => {
  const v = (base + n) >>> 0;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
};

/** Peer i's outer (source) address: 198.18.0.1, 198.18.0.2, ... */
export const outerAddr = (i: number): string => quad(0xc6120000, i + 1);
/** Peer i's inner address, its TSi as a /32: 10.128.0.1, 10.128.0.2, ... */
export const innerAddr = (i: number): string => quad(0x0a800000, i + 1);

/** The gateway's connection for every peer (a gateway file's connection body, tsvpn's peer.json shape). */
export function gatewayConnection(gatewayAddr: string, psk: PeerBodyJson['psk']): PeerBodyJson {
  return {
    local: { addr: gatewayAddr, id: GATEWAY_ID, auth: 'psk', ts: [GATEWAY_NET] },
    remote: { addr: '%any', id: '%any', auth: 'psk', ts: [PEERS_NET] },
    psk,
    ike: { proposals: [IKE_PROPOSAL], dpd: '0s' }, // strongSwan's dpd_delay default is 0 (off) too
    child: { proposals: [ESP_PROPOSAL] },
    start: 'wait',
  };
}

/** Peer i as a peer.json body, PSK from PSK_ENV. */
export function peerJson(i: number, gatewayAddr: string): PeerBodyJson & { name: string } {
  return {
    name: `peer${i}`,
    local: { addr: outerAddr(i), id: `peer${i}.bench.example`, auth: 'psk', ts: [`${innerAddr(i)}/32`] },
    remote: { addr: gatewayAddr, id: GATEWAY_ID, auth: 'psk', ts: [GATEWAY_NET] },
    psk: { env: PSK_ENV },
    ike: { proposals: [IKE_PROPOSAL], dpd: '0s' },
    child: { proposals: [ESP_PROPOSAL] },
    start: 'initiate',
  };
}

/**
 * Peer i's IkeSaConfig through the same parser and mapping as `tsvpn up` (src/config/load.ts,
 * ike-config.ts), sending from `local` (the socket the generator opened for it).
 */
export function peerConfig(
  i: number,
  o: { gatewayAddr: string; local: { addr: string; port: number }; psk: string; random: (n: number) => Uint8Array },
): IkeSaConfig {
  const p = parsePeerConfig(peerJson(i, o.gatewayAddr), process.cwd(), { [PSK_ENV]: o.psk });
  return toIkeSaConfig(p, { random: o.random, wallClock: Date.now, local: o.local });
}
