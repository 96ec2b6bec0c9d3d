// Everything one interop run needs before the peers start: the topology (one veth, or a
// masquerading router with tsvpn or strongSwan behind it), identities, certificates, the
// PSK, strongSwan's swanctl.conf and tsvpn's peer.json.

import { randomBytes } from 'node:crypto';

import { createTwoHosts, type LabHost } from '../../src/io/netns.js';
import { type InteropCase, type Role, type TsSpec } from '../cases/types.js';
import { createNatLab, type NatLab } from './nat.js';
import { createCa, hostIds, issueHost, type KeyType, type LabCa, type LabCert } from './pki.js';
import { swanctlConf } from './swanctl-conf.js';

export interface Topology {
  tsvpn: LabHost;
  ss: LabHost;
  /** Where strongSwan sees tsvpn (and sends to it): the router's public address behind NAT. */
  tsvpnSeenAs: string;
  /** Where tsvpn sees strongSwan. */
  ssSeenAs: string;
  nat?: NatLab;
  destroy(): void;
}

/** `prefix` names the namespaces (default tsvi-{l,r}-<tag>; behind a NAT tsvn-*). */
export function buildTopology(c: InteropCase, role: Role, o: { prefix?: string } = {}): Topology {
  const topo = c.topology ?? 'direct';
  if (topo === 'direct' || topo === 'direct-ipv6') {
    // IPv6 outer addresses from the documentation prefix (RFC 3849), inner stays IPv4
    const v6 = topo === 'direct-ipv6' ? { left: { outer: '2001:db8:100::1' }, right: { outer: '2001:db8:100::2' } } : {};
    const h = createTwoHosts({ prefix: o.prefix ?? 'tsvi', ...v6 });
    return { tsvpn: h.left, ss: h.right, tsvpnSeenAs: h.left.outer, ssSeenAs: h.right.outer, destroy: h.destroy };
  }
  // the host behind the NAT is reachable from outside only through port forwarding, which
  // it needs when it is the responder
  const tsvpnInside = topo === 'tsvpn-behind-nat';
  const insideResponds = tsvpnInside ? role === 'responder' : role === 'initiator';
  const nat = createNatLab({ prefix: o.prefix ?? 'tsvn', randomPorts: true, forwardIke: insideResponds });
  return tsvpnInside
    ? { tsvpn: nat.inside, ss: nat.outside, tsvpnSeenAs: nat.insidePublic, ssSeenAs: nat.outside.outer, nat, destroy: nat.destroy }
    : { tsvpn: nat.outside, ss: nat.inside, tsvpnSeenAs: nat.outside.outer, ssSeenAs: nat.insidePublic, nat, destroy: nat.destroy };
}

// Certificates are made once per key type and host per process (RSA-3072 keys take seconds).
const cas = new Map<KeyType, LabCa>();
const leaves = new Map<string, LabCert>();
function leafFor(keyType: KeyType, label: string, outer: string): { ca: LabCa; leaf: LabCert } {
  let ca = cas.get(keyType);
  if (!ca) cas.set(keyType, (ca = createCa({ keyType })));
  const key = `${keyType}|${label}|${outer}`;
  let leaf = leaves.get(key);
  if (!leaf) leaves.set(key, (leaf = issueHost(ca, hostIds(label, outer))));
  return { ca, leaf };
}

export function selectorsFor(c: InteropCase, t: Topology): TsSpec {
  if (c.ts) return c.ts;
  // transport mode protects the hosts' own (outer) addresses (RFC 7296 §1.1.2)
  const [x, y] = c.mode === 'transport' ? [t.tsvpn.outer, t.ss.outer] : [t.tsvpn.inner, t.ss.inner];
  const [a, b] = [x, y].map((h) => `${h}/${h.includes(':') ? 128 : 32}`);
  return { tsvpnLocal: [a], tsvpnRemote: [b], ssLocal: [b], ssRemote: [a], expectSsLocal: [b], expectSsRemote: [a] };
}

export interface Configs {
  tsvpnId: string;
  ssId: string;
  ts: TsSpec;
  swanctl: string;
  ssFiles: Record<string, string>;
  peer: Record<string, unknown> & { name: string };
  tsvpnFiles: Record<string, string>;
}

export const CHILD = 'net';
export const CONN = 'lab';

export function buildConfigs(c: InteropCase, role: Role, t: Topology): Configs {
  const kind = c.ids ?? 'fqdn';
  const tsvpnId = hostIds('tsvpn', t.tsvpn.outer)[kind];
  const ssId = hostIds('strongswan', t.ss.outer)[kind];
  // an address identity is the outer address: ID_IPV4_ADDR needs an IPv4 path, ID_IPV6_ADDR an IPv6 one
  if (tsvpnId === undefined || ssId === undefined) throw new Error(`case ${JSON.stringify(c.name)}: ids '${kind}' needs ${kind} outer addresses, topology has ${t.tsvpn.outer} / ${t.ss.outer}`);
  const ts = selectorsFor(c, t);
  const psk = c.auth === 'psk' ? `interop-lab-${randomBytes(12).toString('hex')}` : undefined;
  const mode = c.mode ?? 'tunnel';
  const auth = c.auth === 'psk' ? 'psk' : 'pubkey';

  const ssFiles: Record<string, string> = {};
  const tsvpnFiles: Record<string, string> = {};
  if (c.auth !== 'psk') {
    const s = leafFor(c.auth, 'strongswan', t.ss.outer);
    const v = leafFor(c.auth, 'tsvpn', t.tsvpn.outer);
    Object.assign(ssFiles, { 'x509/strongswan.pem': s.leaf.certPem, 'private/strongswan.key': s.leaf.keyPem, 'x509ca/ca.pem': s.ca.certPem });
    Object.assign(tsvpnFiles, { 'cert.pem': v.leaf.certPem, 'key.pem': v.leaf.keyPem, 'ca.pem': v.ca.certPem });
  }

  const { child: ssChild } = c.timers?.strongswan ?? {};
  // strongSwan reauthenticates every 10 s exactly (IKE rand_time is taken modulo: 1s means 0)
  // and does not rekey instead; over_time 10s keeps the old IKE SA's hard expiry clear of the reauth
  const ssIke = c.timers?.strongswan?.ike ?? (c.reauth === 'strongswan' ? { reauth: '10s', rekey: '0s', rand: '1s', over: '10s' } : undefined);
  const swanctl = swanctlConf({
    name: CONN,
    localAddrs: t.ss.outer,
    remoteAddrs: t.tsvpnSeenAs,
    proposals: c.ike.strongswan ?? c.ike.tsvpn,
    local: { auth, id: ssId, certs: c.auth === 'psk' ? undefined : ['strongswan.pem'] },
    remote: { auth, id: tsvpnId, cacerts: c.auth === 'psk' ? undefined : ['ca.pem'] },
    child: { name: CHILD, localTs: ts.ssLocal, remoteTs: ts.ssRemote, espProposals: c.esp.strongswan ?? c.esp.tsvpn, mode, rekeyTime: ssChild?.rekey, lifeTime: ssChild?.life, randTime: ssChild?.rand },
    rekeyTime: ssIke?.rekey,
    reauthTime: ssIke?.reauth,
    overTime: ssIke?.over,
    randTime: ssIke?.rand,
    psk,
  });
  const ikeRekey = c.timers?.tsvpn?.ike ?? (c.ikeRekey === 'tsvpn' ? '10s' : undefined);
  const ikeReauth = c.reauth === 'tsvpn' ? '10s' : undefined;
  const childRekey = c.timers?.tsvpn?.child ?? (c.rekey === 'tsvpn' ? '10s' : undefined);

  const name = `iop-${randomBytes(3).toString('hex')}`;
  const peer: Configs['peer'] = {
    name,
    local: { addr: t.tsvpn.outer, id: tsvpnId, auth, ts: ts.tsvpnLocal, ...(c.auth === 'psk' ? {} : { cert: 'cert.pem', key: 'key.pem' }) },
    remote: { addr: c.tsvpnRemoteAny ? '%any' : t.ssSeenAs, id: c.tsvpnRemoteAny ? '%any' : c.fault === 'wrong-id' ? 'wrong.example' : ssId, auth, ts: ts.tsvpnRemote, ...(c.auth === 'psk' ? {} : { ca: 'ca.pem' }) },
    ...(psk ? { psk: c.fault === 'wrong-psk' ? `${psk}-not-the-same` : psk } : {}),
    ike: { proposals: c.ike.tsvpn, dpd: '30s', ...(ikeRekey ? { rekey: ikeRekey } : {}), ...(ikeReauth ? { reauth: ikeReauth } : {}) },
    child: { name: CHILD, proposals: c.esp.tsvpn, mode, ...(childRekey ? { rekey: childRekey } : {}) },
    start: role === 'initiator' ? 'initiate' : 'wait',
    tun: { name: `tsvpn-${name.slice(4)}` },
    // fail fast: F1 after ~1 + 1.5 + 2.25 + 3.4 s
    retransmit: { timeout: 1, base: 1.5, tries: 3 },
    ...(c.keepalive ? { keepalive: '2s' } : {}),
    // a Delete from strongSwan must leave tsvpn down, not re-initiating
    ...(c.teardown === 'swanctl-terminate' ? { dpdAction: 'clear' } : {}),
  };
  return { tsvpnId, ssId, ts, swanctl, ssFiles, peer, tsvpnFiles };
}
