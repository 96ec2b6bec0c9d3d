// What `tsvpn up <file>` loads: a gateway file (swanctl.conf's shape: `connections` keyed by
// name, `pools`, `secrets`, one `tun`) or a single peer.json, which is a gateway with one
// connection. Every problem of the file, shape and meaning, of every connection and across
// connections, is reported at once in one ConfigError, each with its JSON pointer.
import { basename, dirname, extname, resolve } from 'node:path';
import { certificateWarnings } from './cert-warnings.js';
import { checkConnections, checkPools, type Placed } from './cross-checks.js';
import { ConfigError, pointer } from './errors.js';
import { checkFileSafety, shortPskWarnings } from './file-safety.js';
import { disposePeerConfig } from './ike-config.js';
import { carriesV6, checkTunMtu, parsePeerConfig, readJsonFile, resolvePeer, tunOf, type PeerBodyJson, type PeerOutline, type PskJson, type TunJson } from './load.js';
import { address, addressRange, type Problems } from './resolve.js';
import { isName, validateShape } from './schema.js';
import { redacted, resolvePsk } from './secrets.js';
import { asGateway, type GatewayConfig, type PeerConfig, type PoolConfig } from './types.js';
import { formatSelector, intersectSelectors, parseSelector, selectorContains } from '../wire/selectors.js';
import type { TrafficSelector } from '../wire/types.js';

type PoolJson = { addrs: string; dns?: string[]; subnets?: string[] };

// The file's shape once the schema has accepted it (parts it refused are skipped, see `refused`).
interface GatewayJson {
  name?: string;
  tun?: TunJson;
  connections: Record<string, PeerBodyJson & { pools?: string[] }>;
  pools?: Record<string, PoolJson>;
  /** named PSKs, and `eap`: the EAP users (user name -> password) */
  secrets?: Record<string, { psk: Exclude<PskJson, { secret: string }> }>;
}

/** Read, parse, validate and resolve a gateway file or a peer.json (relative paths are relative to its directory). */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const json = readJsonFile(file);
  const baseDir = dirname(resolve(file));
  // files others can write are refused together with everything else wrong with the file
  const files = checkFileSafety(json, file, baseDir);
  let gw: GatewayConfig;
  try {
    gw = parseConfig(json, baseDir, env, file);
  } catch (e) {
    if (e instanceof ConfigError && files.problems.length > 0) throw new ConfigError([...files.problems, ...e.problems]);
    throw e;
  }
  if (files.problems.length > 0) {
    for (const c of gw.connections) disposePeerConfig(c);
    throw new ConfigError(files.problems);
  }
  const warnings = [...files.warnings, ...shortPskWarnings(gw, isGatewayFile(json)), ...certificateWarnings(gw, isGatewayFile(json), Date.now())];
  return warnings.length > 0 ? { ...gw, warnings } : gw;
}

/** A gateway file without `name` is named after its file: hub.json runs as hub. */
export const defaultGatewayName = (file: string): string => basename(file, extname(file));

/** A file with `connections` is a gateway file; anything else is read as a peer.json. */
export const isGatewayFile = (json: unknown): boolean => typeof json === 'object' && json !== null && !Array.isArray(json) && 'connections' in json;

/**
 * Validate and resolve an already-parsed gateway file or peer.json; file paths in it are
 * relative to `baseDir`. `file`, when given, is where it was read from: a gateway file without
 * `name` is named after it.
 */
export function parseConfig(json: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env, file?: string): GatewayConfig {
  if (!isGatewayFile(json)) {
    const peer = parsePeerConfig(json, baseDir, env);
    return asGateway(peer);
  }
  const shape = validateShape(json, 'gateway');
  // a part the schema refused is not looked at further: its problems are already listed
  const refused = (path: string) => shape.some((p) => p.path === path || p.path.startsWith(`${path}/`));
  const probs: Problems = [...shape];
  const j = json as GatewayJson;

  const name = gatewayName(j, file, refused('/name'), probs);
  const tun = tunOf(refused('/tun') ? undefined : j.tun, name ?? 'gateway'); // without a name the file is refused anyway
  const pools = readPools(entries(j.pools, '/pools', refused), probs);
  const secrets = readSecrets(entries(j.secrets, '/secrets', refused).filter(([n]) => n !== 'eap'), baseDir, env, probs);
  const users = readEapUsers(refused('/secrets/eap') ? undefined : (j.secrets?.eap as Record<string, Exclude<PskJson, { secret: string }>> | undefined), baseDir, env, probs);
  // each connection owns (and may zero) its copies
  const eapUsers = users && (() => new Map([...users].map(([u, pw]) => [u, redacted(new Uint8Array(pw))])));
  const secretNames = [...secrets.keys()];
  const secret = (n: string) => {
    const s = secrets.get(n);
    return s === undefined || s === 'failed' ? s : redacted(new Uint8Array(s)); // each connection owns (and may zero) its copy
  };

  const connections: PeerConfig[] = [];
  const outlines: Placed<PeerOutline>[] = [];
  let complete = true;
  for (const [key, body, path] of entries(j.connections, '/connections', refused)) {
    if (!body) {
      complete = false;
      continue;
    }
    const own: Problems = [];
    const { config, outline } = resolvePeer(body, { name: key, tun, baseDir, env, secret, secretNames, ...(eapUsers ? { eapUsers } : {}) }, own);
    (body.pools ?? []).forEach((pool, i) => {
      const p = pools.get(pool);
      if (!p) own.push({ path: `/pools/${i}`, expected: `names pool ${JSON.stringify(pool)}, which /pools does not define (${known(pools.keys())})` });
      else if (p !== 'failed') checkPoolFits(p, pool, `/pools/${i}`, outline, own);
    });
    probs.push(...own.map((p) => ({ path: path + p.path, expected: p.expected })));
    outlines.push({ path, of: body.pools ? { ...outline, pools: body.pools } : outline });
    if (config) connections.push(body.pools ? { ...config, pools: [...body.pools] } : config); // zeroed below if the file is refused
    if (!config || own.length > 0) complete = false;
  }
  checkConnections(outlines, probs);
  checkTunMtu(tun.mtu, outlines.map((o) => ({ path: o.path, carriesV6: carriesV6(o.of) })), probs);

  for (const s of secrets.values()) if (s !== 'failed') s.fill(0); // the connections hold their own copies
  for (const pw of users?.values() ?? []) pw.fill(0);
  if (probs.length > 0 || !complete || name === undefined) {
    for (const c of connections) disposePeerConfig(c);
    throw new ConfigError(probs);
  }
  const poolRecord: Record<string, PoolConfig> = {};
  for (const [n, p] of pools) if (p !== 'failed') poolRecord[n] = p;
  return { name, connections, pools: poolRecord };
}

/**
 * A pool's addresses become its peers' selectors (RFC 7296 §2.19: the client's TSi is its
 * virtual IP), so the connection's remote.ts must hold them, and its local.ts must not.
 */
function checkPoolFits(p: PoolConfig, name: string, path: string, o: PeerOutline, own: Problems): void {
  if (o.remoteTs && !o.remoteTs.some((ts) => selectorContains(ts, p.range))) {
    own.push({ path, expected: `pool ${JSON.stringify(name)} (${p.addrs}) is not inside remote.ts (${o.remoteTs.map(formatSelector).join(', ')}): its peers' addresses would match no selector; make remote.ts cover it` });
  }
  // a local.ts of a whole family (0.0.0.0/0, ::/0) is a full tunnel's "everything", not addresses of ours
  const inside = o.localTs?.find((ts) => !wholeFamily(ts) && intersectSelectors(ts, p.range) !== null);
  if (inside) own.push({ path, expected: `pool ${JSON.stringify(name)} (${p.addrs}) overlaps local.ts ${formatSelector(inside)}: an address handed to a peer would also be one of ours` });
  // RFC 7296 §3.15.2: an announced network the Child SA does not carry would be routed into a tunnel that drops it
  const outside = o.localTs && p.subnets.find((s) => !o.localTs!.some((ts) => selectorContains(ts, parseSelector(s))));
  if (outside) own.push({ path, expected: `pool ${JSON.stringify(name)} announces ${outside}, which local.ts (${o.localTs!.map(formatSelector).join(', ')}) does not cover: its clients would route it into a tunnel that does not carry it` });
}

const wholeFamily = (ts: TrafficSelector): boolean => ts.startAddr.every((b) => b === 0) && ts.endAddr.every((b) => b === 0xff);

/** "it has a, b" or "it has none", for a name that is not there. */
const known = (names: Iterable<string>): string => {
  const list = [...names];
  return list.length > 0 ? `it has ${list.join(', ')}` : 'it has none';
};

/**
 * The entries of a keyed section with their JSON pointers; the value is undefined for an
 * entry the schema refused. No entries when the section is missing or itself refused.
 */
function entries<T>(section: Record<string, T> | undefined, path: string, refused: (path: string) => boolean): [string, T | undefined, string][] {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return [];
  return Object.entries(section).map(([k, v]) => {
    const at = path + pointer(k);
    return [k, refused(at) ? undefined : v, at];
  });
}

/** The gateway's name: `name`, or the file's base name without extension when that is a name. */
function gatewayName(j: GatewayJson, file: string | undefined, refused: boolean, probs: Problems): string | undefined {
  if (j.name !== undefined) return refused ? undefined : j.name;
  const base = file === undefined ? undefined : defaultGatewayName(file);
  if (base === undefined) {
    probs.push({ path: '/name', expected: 'required: there is no file name to take it from' });
    return undefined;
  }
  if (isName(base)) return base;
  probs.push({ path: '/name', expected: `required: the file name ${JSON.stringify(base)} is not a name (1-32 letters, digits, '_', '.' or '-', starting with a letter or digit), so add "name"` });
  return undefined;
}

/** `pools`: each range and DNS address parsed; 'failed' for a pool with a problem (reported), so naming it is not "missing". */
function readPools(list: [string, PoolJson | undefined, string][], probs: Problems): Map<string, PoolConfig | 'failed'> {
  const out = new Map<string, PoolConfig | 'failed'>();
  const ranges: Placed<PoolConfig['range']>[] = [];
  for (const [name, pool, path] of list) {
    if (!pool) {
      out.set(name, 'failed');
      continue;
    }
    const n = probs.length;
    const range = addressRange(pool.addrs, `${path}/addrs`, probs);
    const dns = (pool.dns ?? []).map((d, i) => address(d, `${path}/dns/${i}`, probs, false));
    const subnets = (pool.subnets ?? []).map((s, i) => network(s, `${path}/subnets/${i}`, probs));
    if (range) ranges.push({ path, of: range });
    out.set(name, range && probs.length === n ? { addrs: formatSelector(range), range, dns: dns as string[], subnets: subnets.map((s) => formatSelector(s!)) } : 'failed');
  }
  checkPools(ranges, probs);
  return out;
}

/** `secrets.eap`: each EAP user's password read once (problems at /secrets/eap/<user>...); undefined without the section. */
function readEapUsers(eap: Record<string, Exclude<PskJson, { secret: string }>> | undefined, baseDir: string, env: NodeJS.ProcessEnv, probs: Problems): Map<string, Uint8Array> | undefined {
  if (eap === undefined) return undefined;
  const out = new Map<string, Uint8Array>();
  for (const [user, pw] of Object.entries(eap)) {
    const got = resolvePsk(pw, baseDir, env);
    if (got.ok) out.set(user, got.value);
    else probs.push(...got.problems.map((p) => ({ path: `/secrets/eap${pointer(user)}${p.path.replace(/^\/psk/, '')}`, expected: p.expected })));
  }
  return out;
}

/** A pool's announced network: a prefix (RFC 7296 §3.15.1 INTERNAL_IP4_SUBNET is an address and a netmask), not a range. */
function network(text: string, path: string, probs: Problems): TrafficSelector | undefined {
  if (!/^[^/\s]+\/\d{1,3}$/.test(text.trim())) {
    probs.push({ path, expected: `expected a network such as 10.0.0.0/24 or 2001:db8::/48, got ${JSON.stringify(text)}` });
    return undefined;
  }
  return addressRange(text, path, probs);
}

/** `secrets`: each PSK read once (problems at /secrets/<name>/psk...); 'failed' for one that could not be read. */
function readSecrets(list: [string, { psk: Exclude<PskJson, { secret: string }> } | undefined, string][], baseDir: string, env: NodeJS.ProcessEnv, probs: Problems): Map<string, Uint8Array | 'failed'> {
  const out = new Map<string, Uint8Array | 'failed'>();
  for (const [name, secret, path] of list) {
    if (!secret) {
      out.set(name, 'failed');
      continue;
    }
    const got = resolvePsk(secret.psk, baseDir, env);
    if (got.ok) out.set(name, got.value);
    else {
      out.set(name, 'failed');
      probs.push(...got.problems.map((p) => ({ path: path + p.path, expected: p.expected })));
    }
  }
  return out;
}
