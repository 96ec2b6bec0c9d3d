// PeerConfig -> the IkeSaConfig one IKE SA runs with (src/ike/config.ts). The runtime pieces
// (randomness, the wall clock, the peer a '%any' responder actually talks to) come from the
// daemon; everything else is the peer.json, already parsed and checked.
import { KeyObject } from 'node:crypto';
import type { AddressPool } from '../ike/address-pool.js';
import type { Endpoint, IkeSaConfig } from '../ike/config.js';
import { ANY, type PeerConfig } from './types.js';

export interface IkeRuntime {
  random: (n: number) => Uint8Array;
  wallClock: () => number;
  /** The actual peer when remote.addr is '%any' (a responder learns it from IKE_SA_INIT). */
  remote?: Endpoint;
  /** Overrides local.addr/port (e.g. the NAT-T port 4500 the SA moved to). */
  local?: Endpoint;
  /** `tsvpn up --save-keys`: the IKE SA hands its keys out for Wireshark (IkeSaConfig.exportKeys). */
  exportKeys?: boolean;
  /** The daemon's pools this connection names (PeerConfig.pools), shared by every SA. */
  pools?: AddressPool[];
}

/**
 * One IKE SA's configuration with one Child SA. The PSK bytes are shared with `p`, not copied:
 * zero them once with disposePeerConfig when the tunnel goes away (calling disposeConfig on an
 * SA's config would zero the PeerConfig's key too, and the next SA would fail F3).
 */
export function toIkeSaConfig(p: PeerConfig, rt: IkeRuntime): IkeSaConfig {
  const family = p.local.addr.includes(':') ? 6 : 4;
  // A '%any' responder without a known peer yet: the dispatcher takes the real address from the datagram's path.
  const unknownPeer: Endpoint = { addr: family === 6 ? '::' : '0.0.0.0', port: p.remote.port };
  const remote = rt.remote ?? (p.remote.addr === ANY ? unknownPeer : { addr: p.remote.addr, port: p.remote.port });
  return {
    name: p.name,
    local: rt.local ?? { addr: p.local.addr, port: p.local.port },
    remote,
    proposals: p.ike.proposals,
    localId: p.local.id,
    // swanctl `remote.id = %any` (acceptsAnyId): any identity the peer proves
    remoteId: p.remote.id,
    localAuth: p.local.auth,
    remoteAuth: p.remote.auth,
    children: [
      {
        name: p.child.name,
        espProposals: p.child.proposals,
        localTs: p.local.ts,
        remoteTs: p.remote.ts,
        mode: p.child.mode,
        replayWindow: p.child.replayWindow,
        // swanctl children.<c>.rekey_time, life_time, rand_time (absent: src/ike/lifetimes.ts defaults)
        rekeyTime: p.child.rekeyS,
        lifeTime: p.child.lifeS,
        randTime: p.child.randS,
      },
    ],
    rekeyTime: p.ike.rekeyS, // swanctl connections.<c>.rekey_time, life_time, rand_time
    lifeTime: p.ike.lifeS,
    randTime: p.ike.randS,
    reauthTime: p.ike.reauthS, // swanctl connections.<c>.reauth_time (0: off)
    retransmit: { ...p.retransmit },
    random: rt.random,
    wallClock: rt.wallClock,
    // RFC 7296 §2.4: an initiator that starts afresh tells the peer to drop SAs it still holds for us
    initialContact: p.start === 'initiate',
    mobike: p.mobike, // RFC 4555 §3.2
    ...(rt.exportKeys ? { exportKeys: true } : {}),
    ...(rt.pools && rt.pools.length > 0 ? { pools: rt.pools } : {}),
    ...(p.local.vips ? { requestVips: [...p.local.vips] } : {}),
  };
}

/** Zero the PSK this PeerConfig holds (KeyObjects cannot be zeroed from JS). Idempotent. */
export function disposePeerConfig(p: PeerConfig): void {
  if (p.local.auth.method === 'psk') p.local.auth.psk.fill(0);
}

/**
 * Whether a reload leaves a connection as it is: every field equal, PSKs and keys compared by
 * their bytes in memory (never printed). A PSK's own toJSON says only "<redacted>", so the
 * comparison walks the object itself instead of asking JSON.stringify.
 */
export function samePeerConfig(a: PeerConfig, b: PeerConfig): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('base64')}`;
  if (v instanceof KeyObject) return `key:${v.export({ format: 'der', type: v.type === 'private' ? 'pkcs8' : 'spki' }).toString('base64')}`;
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canonical(x)]));
  return v;
}
