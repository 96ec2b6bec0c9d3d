// A gateway's virtual IP pool (RFC 7296 §2.19, swanctl `pools.<name>`): the addresses handed to
// remote-access peers in a CFG_REPLY, leased by the identity each peer proved. I/O-free: the
// daemon makes one AddressPool per configured pool and every connection naming it shares it;
// an IKE SA acquires in IKE_AUTH and releases when it ends (src/ike/virtual-ip.ts).
//
// Leases work as strongSwan's in-memory pools do: an identity gets back the address it had,
// online or not; a new identity takes the next never-used address, then the address released
// longest ago by another identity; an address stays online while any IKE SA of its identity
// holds it (reauthentication acquires on the new SA before the old one releases). Two peers
// proving the same identity therefore share one address: give each peer its own identity.
import { bytesToIp } from '../wire/ip-text.js';
import type { TrafficSelector } from '../wire/types.js';

interface Held {
  offset: bigint;
  /** IKE SAs holding it now; 0 = offline, kept for the identity until another one needs it. */
  holders: number;
}

/** An address an IKE SA holds from a pool, released when the SA ends (or handed to its rekeyed successor). */
export interface Lease {
  pool: AddressPool;
  identity: string;
  address: string;
}

export interface PoolStatus {
  name: string;
  addrs: string;
  size: number;
  online: number;
  offline: number;
}

export class AddressPool {
  readonly family: 4 | 6;
  /** How many addresses the pool hands out. */
  readonly size: bigint;
  private readonly first: bigint;
  private readonly bytes: number;
  private unused = 0n; // offsets below this were leased at some time
  private readonly leases = new Map<string, Held>(); // by identity
  /** Identities whose lease is offline, oldest release first (Map order). */
  private readonly offline = new Map<string, true>();

  /**
   * `range` is the pool's addresses; `cidr` says `addrs` was a prefix, whose first address (the
   * network) and, for IPv4, last (the broadcast) are not handed out, as no host may hold them.
   */
  constructor(
    readonly name: string,
    readonly addrs: string,
    range: TrafficSelector,
    readonly dns: readonly string[],
    cidr: boolean,
    /** Networks announced with an address (INTERNAL_IP4/6_SUBNET, RFC 7296 §3.15.2), CIDR. */
    readonly subnets: readonly string[] = [],
  ) {
    this.bytes = range.startAddr.length;
    this.family = this.bytes === 4 ? 4 : 6;
    let first = toBig(range.startAddr);
    let last = toBig(range.endAddr);
    if (cidr && last - first >= 2n) {
      first += 1n;
      if (this.family === 4) last -= 1n;
    }
    this.first = first;
    this.size = last - first + 1n;
  }

  /** The address for `identity` (held once more), or undefined when every address is online. */
  acquire(identity: string): string | undefined {
    let lease = this.leases.get(identity);
    if (!lease) {
      const offset = this.fresh();
      if (offset === undefined) return undefined;
      lease = { offset, holders: 0 };
      this.leases.set(identity, lease);
    }
    if (lease.holders++ === 0) this.offline.delete(identity);
    return this.text(lease.offset);
  }

  /** One holder of `identity`'s address lets go; the last one takes it offline (kept for the identity). */
  release(identity: string): void {
    const lease = this.leases.get(identity);
    if (!lease || lease.holders === 0) return;
    if (--lease.holders === 0) this.offline.set(identity, true);
  }

  status(): PoolStatus {
    const online = [...this.leases.values()].filter((l) => l.holders > 0).length;
    return { name: this.name, addrs: this.addrs, size: Number(this.size), online, offline: this.offline.size };
  }

  /** A never-used address, else the one released longest ago (its identity loses it). */
  private fresh(): bigint | undefined {
    if (this.unused < this.size) return this.unused++;
    const [oldest] = this.offline.keys();
    if (oldest === undefined) return undefined;
    const offset = this.leases.get(oldest)!.offset;
    this.offline.delete(oldest);
    this.leases.delete(oldest);
    return offset;
  }

  private text(offset: bigint): string {
    let v = this.first + offset;
    const out = new Uint8Array(this.bytes);
    for (let i = this.bytes - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
    return bytesToIp(out);
  }
}

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}
