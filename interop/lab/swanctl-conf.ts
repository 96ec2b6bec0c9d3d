// swanctl.conf text for one connection with one child (the shape every interop case
// needs). Field names are swanctl.conf's own (connections.<conn>.*, secrets.ike-*).

export interface SwanctlConn {
  /** Connection name (also the IKE SA name in list-sas). */
  name: string;
  localAddrs: string; // `local_addrs`, e.g. 198.51.100.2 or %any
  remoteAddrs: string; // `remote_addrs`, e.g. 198.51.100.1 or %any
  localPort?: number; // `local_port` (default 500)
  remotePort?: number; // `remote_port` (default 500)
  proposals: string[]; // IKE proposals, strongSwan preference order
  local: { auth: 'psk' | 'pubkey' | 'eap-mschapv2'; id: string; certs?: string[] /* file names in x509/ */; eapId?: string /* `eap_id` */ };
  remote: { auth: 'psk' | 'pubkey' | 'eap-mschapv2'; id: string; cacerts?: string[] /* file names in x509ca/ */; eapId?: string /* `eap_id`, %any: ask with EAP-Identity */ };
  child: {
    name: string;
    localTs: string[];
    remoteTs: string[];
    espProposals: string[];
    mode?: 'tunnel' | 'transport';
    startAction?: 'none' | 'trap' | 'start';
    rekeyTime?: string;
    /** `life_time` (default rekey_time x 1.1). */
    lifeTime?: string;
    /** `rand_time` (default life_time - rekey_time): the rekey comes up to this much early. */
    randTime?: string;
  };
  /** `encap = yes`: force UDP encapsulation (kernel-libipsec always encapsulates anyway). */
  encap?: boolean;
  /** `dpd_delay`, e.g. "30s". */
  dpdDelay?: string;
  /** `rekey_time` of the IKE SA (default: strongSwan's 4h). */
  rekeyTime?: string;
  /** `reauth_time` of the IKE SA (default 0s: never; with it, rekey_time defaults to 0). */
  reauthTime?: string;
  /** `over_time` of the IKE SA: its hard lifetime is rekey_time + over_time (default 10% of rekey_time). */
  overTime?: string;
  /** `rand_time` of the IKE SA (default over_time): the rekey comes up to this much early. */
  randTime?: string;
  /** `keyingtries` (default 1 here: fail fast). */
  keyingtries?: number;
  /** `mobike` (default no here, unlike swanctl: a case keeps its addresses; test/interop/mobike-strongswan.test.ts turns it on). */
  mobike?: boolean;
  /** `vips`: virtual IPs to ask the responder for, e.g. ['0.0.0.0'] (then local_ts is usually `dynamic`). */
  vips?: string[];
  /** A gateway's `pools` section, each named in the connection's `pools` (its remote_ts is then usually `dynamic`); `subnet`: announced as INTERNAL_IP4/6_SUBNET. */
  pools?: Record<string, { addrs: string; dns?: string[]; subnet?: string[] }>;
  /** PSK secret; written as one secrets.ike entry binding both ids. */
  psk?: string;
  /** EAP users and their passwords; written as secrets.eap-<user> entries. */
  eap?: Record<string, string>;
}

/** Quote a value for swanctl.conf (DNs contain ',' and '='). */
function q(v: string): string {
  return /^[A-Za-z0-9_.:/@%*\-[\]]+$/.test(v) ? v : JSON.stringify(v);
}
const listOf = (vs: string[]): string => vs.map(q).join(',');

export function swanctlConf(c: SwanctlConn): string {
  const lines: string[] = [];
  const ind = (n: number, s: string) => lines.push(`${'  '.repeat(n)}${s}`);
  ind(0, 'connections {');
  ind(1, `${c.name} {`);
  ind(2, 'version = 2');
  ind(2, `local_addrs = ${q(c.localAddrs)}`);
  ind(2, `remote_addrs = ${q(c.remoteAddrs)}`);
  if (c.localPort) ind(2, `local_port = ${c.localPort}`);
  if (c.remotePort) ind(2, `remote_port = ${c.remotePort}`);
  ind(2, `proposals = ${c.proposals.join(',')}`);
  ind(2, `mobike = ${c.mobike ? 'yes' : 'no'}`);
  ind(2, `keyingtries = ${c.keyingtries ?? 1}`);
  if (c.vips?.length) ind(2, `vips = ${listOf(c.vips)}`);
  if (c.pools) ind(2, `pools = ${listOf(Object.keys(c.pools))}`);
  if (c.encap) ind(2, 'encap = yes');
  if (c.dpdDelay) ind(2, `dpd_delay = ${c.dpdDelay}`);
  if (c.rekeyTime) ind(2, `rekey_time = ${c.rekeyTime}`);
  if (c.reauthTime) ind(2, `reauth_time = ${c.reauthTime}`);
  if (c.overTime) ind(2, `over_time = ${c.overTime}`);
  if (c.randTime) ind(2, `rand_time = ${c.randTime}`);
  ind(2, 'local {');
  ind(3, `auth = ${c.local.auth}`);
  ind(3, `id = ${q(c.local.id)}`);
  if (c.local.certs?.length) ind(3, `certs = ${listOf(c.local.certs)}`);
  if (c.local.eapId) ind(3, `eap_id = ${q(c.local.eapId)}`);
  ind(2, '}');
  ind(2, 'remote {');
  ind(3, `auth = ${c.remote.auth}`);
  ind(3, `id = ${q(c.remote.id)}`);
  if (c.remote.cacerts?.length) ind(3, `cacerts = ${listOf(c.remote.cacerts)}`);
  if (c.remote.eapId) ind(3, `eap_id = ${q(c.remote.eapId)}`);
  ind(2, '}');
  ind(2, 'children {');
  ind(3, `${c.child.name} {`);
  ind(4, `local_ts = ${listOf(c.child.localTs)}`);
  ind(4, `remote_ts = ${listOf(c.child.remoteTs)}`);
  ind(4, `esp_proposals = ${c.child.espProposals.join(',')}`);
  ind(4, `mode = ${c.child.mode ?? 'tunnel'}`);
  ind(4, `start_action = ${c.child.startAction ?? 'none'}`);
  if (c.child.rekeyTime) ind(4, `rekey_time = ${c.child.rekeyTime}`);
  if (c.child.lifeTime) ind(4, `life_time = ${c.child.lifeTime}`);
  if (c.child.randTime) ind(4, `rand_time = ${c.child.randTime}`);
  ind(3, '}');
  ind(2, '}');
  ind(1, '}');
  ind(0, '}');
  if (c.pools) {
    ind(0, 'pools {');
    for (const [name, p] of Object.entries(c.pools)) {
      ind(1, `${name} {`);
      ind(2, `addrs = ${q(p.addrs)}`);
      if (p.dns?.length) ind(2, `dns = ${listOf(p.dns)}`);
      if (p.subnet?.length) ind(2, `subnet = ${listOf(p.subnet)}`);
      ind(1, '}');
    }
    ind(0, '}');
  }
  if (c.psk !== undefined || c.eap) {
    ind(0, 'secrets {');
    if (c.psk !== undefined) {
      ind(1, `ike-${c.name} {`);
      ind(2, `id-local = ${q(c.local.id)}`);
      ind(2, `id-remote = ${q(c.remote.id)}`);
      ind(2, `secret = ${JSON.stringify(c.psk)}`);
      ind(1, '}');
    }
    for (const [user, secret] of Object.entries(c.eap ?? {})) {
      ind(1, `eap-${user} {`);
      ind(2, `id = ${q(user)}`);
      ind(2, `secret = ${JSON.stringify(secret)}`);
      ind(1, '}');
    }
    ind(0, '}');
  }
  return `${lines.join('\n')}\n`;
}
