// Virtual IPs for remote-access peers (RFC 7296 §2.19, §3.15). The initiator asks in IKE_AUTH
// with CP(CFG_REQUEST) carrying an empty INTERNAL_IP4_ADDRESS and/or INTERNAL_IP6_ADDRESS
// (and the DNS attributes); the responder answers CP(CFG_REPLY) with an address from the
// connection's pools and its DNS servers, and the initiator's traffic selector becomes that
// address alone. With no address to give, the IKE SA still comes up but its Child SA does
// not (INTERNAL_ADDRESS_FAILURE, RFC 7296 §3.10.1).
import { CfgAttributeType, CfgType, NotifyType } from '../wire/constants.js';
import { bytesToIp, parseIp } from '../wire/ip-text.js';
import { narrowSelectors, parseSelector, prefixRange } from '../wire/selectors.js';
import type { CfgAttribute, CpPayload, Payload } from '../wire/types.js';
import type { Lease } from './address-pool.js';
import { event, type Effect } from './effects.js';
import { findNotify, first, notify } from './payloads.js';
import type { SaContext } from './sa-context.js';

export type VirtualIpAnswer =
  /** The peer asked for no address: a site-to-site peer on a pool connection. */
  | { kind: 'none' }
  | { kind: 'assigned'; reply: Payload[] }
  /** Nothing to give: answer with this instead of a Child SA. */
  | { kind: 'failed'; reply: Payload[] };

/** Responder, after the peer authenticated (ctx.remoteIdText): answer its CP(CFG_REQUEST) from the connection's pools. */
export function assignVirtualIps(ctx: SaContext, p: Payload[], out: Effect[]): VirtualIpAnswer {
  const cp = first(p, 'CP');
  if (!cp || cp.cfgType !== CfgType.CFG_REQUEST) return { kind: 'none' };
  const families = new Set<4 | 6>();
  for (const a of cp.attributes) {
    if (a.type === CfgAttributeType.INTERNAL_IP4_ADDRESS) families.add(4);
    if (a.type === CfgAttributeType.INTERNAL_IP6_ADDRESS) families.add(6);
  }
  if (families.size === 0) return { kind: 'none' };
  const pools = ctx.cfg.pools ?? [];
  const identity = ctx.remoteIdText!;
  const leases: Lease[] = [];
  for (const family of families) {
    for (const pool of pools) {
      if (pool.family !== family) continue;
      const address = pool.acquire(identity);
      if (address === undefined) continue;
      leases.push({ pool, identity, address });
      break;
    }
  }
  if (leases.length === 0) {
    const why = pools.length === 0 ? 'the connection has no pools' : `every address is leased (${pools.map((x) => { const s = x.status(); return `${s.name} ${s.addrs}: ${s.online} of ${s.size} online`; }).join(', ')})`;
    out.push(event({ type: 'failure', row: 'F4', message: `no virtual IP for ${identity}: ${why}`, evidence: { child: ctx.cfg.children[0]?.name ?? '', localTs: [], remoteTs: [], notify: 'INTERNAL_ADDRESS_FAILURE', detail: why } }));
    return { kind: 'failed', reply: [notify(NotifyType.INTERNAL_ADDRESS_FAILURE)] };
  }
  ctx.leases = [...(ctx.leases ?? []), ...leases];
  // the peer's side of every Child SA is its virtual IP alone (swanctl remote_ts = dynamic)
  const vips = leases.map((l) => parseSelector(l.address));
  ctx.cfg = { ...ctx.cfg, children: ctx.cfg.children.map((c) => ({ ...c, remoteTs: narrowSelectors(c.remoteTs, vips) })) };
  out.push(event({ type: 'virtual-ip', addresses: leases.map((l) => l.address), pools: leases.map((l) => l.pool.name), identity }));
  const attributes: CfgAttribute[] = leases.map((l) => addressAttribute(l.address));
  const dns = new Set(leases.flatMap((l) => l.pool.dns));
  for (const d of dns) attributes.push(dnsAttribute(d));
  for (const s of new Set(leases.flatMap((l) => l.pool.subnets))) attributes.push(subnetAttribute(s));
  const reply: CpPayload = { kind: 'CP', critical: false, cfgType: CfgType.CFG_REPLY, attributes };
  return { kind: 'assigned', reply: [reply] };
}

/** The SA's addresses go back to their pools (the SA ended), once. */
export function releaseLeases(ctx: SaContext): void {
  for (const l of ctx.leases ?? []) l.pool.release(l.identity);
  ctx.leases = undefined;
}

// RFC 7296 §3.15.1: INTERNAL_IP4_ADDRESS is 4 octets; INTERNAL_IP6_ADDRESS 16 octets and a prefix length
function addressAttribute(address: string): CfgAttribute {
  const b = parseIp(address)!;
  if (b.length === 4) return { type: CfgAttributeType.INTERNAL_IP4_ADDRESS, value: b };
  const value = new Uint8Array(17);
  value.set(b);
  value[16] = 128;
  return { type: CfgAttributeType.INTERNAL_IP6_ADDRESS, value };
}

function dnsAttribute(address: string): CfgAttribute {
  const b = parseIp(address)!;
  return { type: b.length === 4 ? CfgAttributeType.INTERNAL_IP4_DNS : CfgAttributeType.INTERNAL_IP6_DNS, value: b };
}

/** The IPv4 netmask of a prefix length, as an unsigned 32-bit number. */
const netmask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

// RFC 7296 §3.15.1: INTERNAL_IP4_SUBNET is an address and a netmask, INTERNAL_IP6_SUBNET an address and a prefix length
function subnetAttribute(cidr: string): CfgAttribute {
  const [addr, lenText] = cidr.split('/');
  const b = parseIp(addr!)!;
  const len = Number(lenText);
  if (b.length === 16) {
    const value = new Uint8Array(17);
    value.set(b);
    value[16] = len;
    return { type: CfgAttributeType.INTERNAL_IP6_SUBNET, value };
  }
  const mask = netmask(len);
  return { type: CfgAttributeType.INTERNAL_IP4_SUBNET, value: Uint8Array.from([...b, mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff]) };
}

/** Initiator: CP(CFG_REQUEST) for the families configured (empty values: "any address"), with DNS; none when no virtual IP is wanted. */
export function virtualIpRequest(ctx: SaContext): Payload[] {
  const families = ctx.cfg.requestVips ?? [];
  if (families.length === 0) return [];
  const empty = new Uint8Array(0);
  const attributes = families.flatMap((f): CfgAttribute[] =>
    f === 4
      ? [{ type: CfgAttributeType.INTERNAL_IP4_ADDRESS, value: empty }, { type: CfgAttributeType.INTERNAL_IP4_DNS, value: empty }]
      : [{ type: CfgAttributeType.INTERNAL_IP6_ADDRESS, value: empty }, { type: CfgAttributeType.INTERNAL_IP6_DNS, value: empty }],
  );
  return [{ kind: 'CP', critical: false, cfgType: CfgType.CFG_REQUEST, attributes }];
}

/**
 * Initiator: what the responder answered to our request (RFC 7296 §3.15.1 attribute values).
 * False when it had no address for us (INTERNAL_ADDRESS_FAILURE, F4) or sent none: no Child SA then.
 */
export function acceptVirtualIps(ctx: SaContext, p: Payload[], out: Effect[]): boolean {
  if ((ctx.cfg.requestVips ?? []).length === 0) return true;
  const cp = first(p, 'CP');
  const addresses: string[] = [];
  const dns: string[] = [];
  const subnets: string[] = [];
  if (cp && cp.cfgType === CfgType.CFG_REPLY) {
    for (const a of cp.attributes) {
      const subnet = subnetOf(a);
      if (subnet !== undefined && !subnets.includes(subnet)) subnets.push(subnet);
      if (a.type === CfgAttributeType.INTERNAL_IP4_ADDRESS && a.value.length === 4) addresses.push(bytesToIp(a.value));
      if (a.type === CfgAttributeType.INTERNAL_IP6_ADDRESS && a.value.length === 17) addresses.push(bytesToIp(a.value.subarray(0, 16)));
      if (a.type === CfgAttributeType.INTERNAL_IP4_DNS && a.value.length === 4) dns.push(bytesToIp(a.value));
      if (a.type === CfgAttributeType.INTERNAL_IP6_DNS && a.value.length === 16) dns.push(bytesToIp(a.value));
    }
  }
  if (addresses.length === 0) {
    const refused = !!findNotify(p, NotifyType.INTERNAL_ADDRESS_FAILURE);
    const why = refused ? 'the gateway has no address for us (INTERNAL_ADDRESS_FAILURE: its pool is used up or it has none)' : 'the gateway answered without an address (no CP(CFG_REPLY) with INTERNAL_IP4/IP6_ADDRESS)';
    out.push(event({ type: 'failure', row: 'F4', message: `no virtual IP: ${why}`, evidence: { child: ctx.cfg.children[0]?.name ?? '', localTs: [], remoteTs: [], notify: refused ? 'INTERNAL_ADDRESS_FAILURE' : 'no CFG_REPLY', detail: why } }));
    return false;
  }
  ctx.ownVips = { addresses, dns, subnets };
  out.push(event({ type: 'virtual-ip-received', addresses, dns, subnets }));
  return true;
}

/**
 * RFC 7296 §3.15.1: INTERNAL_IP4_SUBNET is an address and a netmask (8 octets),
 * INTERNAL_IP6_SUBNET an address and a prefix length (17 octets); as CIDR, undefined for any
 * other attribute or a malformed one (a netmask that is not contiguous ones, a length past 128).
 * §3.15.2: the networks the gateway protects, for the client to route there.
 */
function subnetOf(a: CfgAttribute): string | undefined {
  if (a.type === CfgAttributeType.INTERNAL_IP4_SUBNET && a.value.length === 8) {
    const mask = ((a.value[4]! << 24) | (a.value[5]! << 16) | (a.value[6]! << 8) | a.value[7]!) >>> 0;
    let len = 0;
    while (len < 32 && (mask >>> (31 - len)) & 1) len++;
    if (mask !== netmask(len)) return undefined; // not contiguous ones
    return `${bytesToIp(prefixRange(a.value.subarray(0, 4), len)[0])}/${len}`;
  }
  if (a.type === CfgAttributeType.INTERNAL_IP6_SUBNET && a.value.length === 17 && a.value[16]! <= 128) {
    return `${bytesToIp(prefixRange(a.value.subarray(0, 16), a.value[16]!)[0])}/${a.value[16]}`;
  }
  return undefined;
}
