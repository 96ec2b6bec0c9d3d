// peer.json -> PeerConfig: read, parse, check the shape against schema/peer.schema.json,
// then the semantics a schema cannot express, then resolve secrets and certificate files.
// Every problem found is reported at once in one ConfigError (one line per problem).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { certMatchesIdentity } from '../ike/auth/certs.js';
import type { Crl } from '../ike/auth/crl.js';
import { parseIdentity } from '../ike/auth/identity.js';
import { DEFAULT_RETRANSMIT, type EapUsers, type LocalAuth, type RemoteAuth } from '../ike/config.js';
import { ConfigError } from './errors.js';
import { disposeAuth, disposePeerConfig } from './ike-config.js';
import { findJsonFault } from './json-syntax.js';
import { address, checkFamilies, checkTransport, durationSeconds, familyOf, formatSelector, identity, proposals, selectors, tsFamilies, type Problems } from './resolve.js';
import { validateShape } from './schema.js';
import { derOf, readCertificates, readCrls, readPrivateKey, resolvePsk } from './secrets.js';
import { ANY, DEFAULTS, type PeerConfig } from './types.js';
import type { TrafficSelector } from '../wire/types.js';

export { ConfigError } from './errors.js';

/** "30s" "5m" "4h" "1d" -> seconds. Throws ConfigError for anything else. */
export function parseDuration(text: string): number {
  const v = durationSeconds(text);
  if (v === undefined) throw new ConfigError([{ path: '', expected: `expected a duration such as 30s, 5m, 4h or 1d, got ${JSON.stringify(text)}` }]);
  return v;
}

/** Read, parse, validate and resolve one peer.json (relative paths are relative to its directory). */
export function loadPeerFile(file: string, env: NodeJS.ProcessEnv = process.env): PeerConfig {
  return parsePeerConfig(readJsonFile(file), dirname(resolve(file)), env);
}

/** A peer file read and parsed as JSON, nothing checked yet; ConfigError when it cannot be. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, ''); // editors on some systems write a UTF-8 byte order mark
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: '', expected: `cannot read ${resolve(file)}: ${code === 'ENOENT' ? 'no such file' : code ?? 'unreadable'}` }]);
  }
  return parseJsonFile(text, file);
}

/**
 * JSON.parse, or a ConfigError naming the line and column, what was expected there, and
 * the line itself (with any PSK on it masked) below the message.
 */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const f = findJsonFault(text);
    const where = f ? `line ${f.line} column ${f.column}: expected ${f.expected}\n${f.excerpt}` : 'it does not parse';
    throw new ConfigError([{ path: '', expected: `${resolve(file)} is not valid JSON: ${where}` }]);
  }
}

// The file's shape once the schema has accepted it.
interface SideJson { addr: string; port?: number; id: string; auth: 'psk' | 'pubkey' | 'eap-mschapv2'; ts: string[]; vips?: ('0.0.0.0' | '::')[] }
interface LifetimeJson { rekey?: string; life?: string; rand?: string }
/** A PSK as written: inline, `{file}`, `{env}`, or (in a gateway file) `{secret}` naming an entry of `secrets`. */
export type PskJson = string | { file: string } | { env: string } | { secret: string };
/** The body shared by peer.json and a gateway file's connection (schema `$defs/connectionBody`). */
export interface PeerBodyJson {
  local: SideJson & { cert?: string; key?: string; eapId?: string };
  remote: SideJson & { ca?: string | string[]; crls?: string | string[] };
  psk?: PskJson;
  /** local.auth "eap-mschapv2": the password (swanctl secrets.eap-<name>.secret), in the forms of a PSK. */
  eapPassword?: PskJson;
  ike: { proposals: string[]; dpd?: string; reauth?: string } & LifetimeJson;
  child: { name?: string; proposals: string[]; mode?: 'tunnel' | 'transport'; replayWindow?: number } & LifetimeJson;
  start?: 'initiate' | 'wait';
  encap?: 'auto' | 'udp';
  mssClamp?: boolean;
  keepalive?: string;
  dpdAction?: 'restart' | 'clear' | 'hold';
  mobike?: boolean;
  killSwitch?: boolean;
  allowLan?: boolean;
  dnsDomains?: string[];
  retransmit?: { timeout?: number; base?: number; tries?: number };
}
export type TunJson = { name?: string; mtu?: number };
interface PeerJson extends PeerBodyJson {
  name: string;
  tun?: TunJson;
}

/** Validate and resolve an already-parsed peer.json; file paths in it are relative to `baseDir`. */
export function parsePeerConfig(json: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): PeerConfig {
  const shape = validateShape(json, 'peer');
  if (shape.length > 0) throw new ConfigError(shape);
  const j = json as PeerJson;
  const probs: Problems = [];
  const tun = tunOf(j.tun, j.name);
  const { config, outline } = resolvePeer(j, { name: j.name, tun, baseDir, env }, probs);
  checkTunMtu(tun.mtu, [{ carriesV6: carriesV6(outline), path: '' }], probs);
  if (probs.length > 0 || !config) {
    if (config) disposePeerConfig(config);
    throw new ConfigError(probs);
  }
  return config;
}

/** The TUN of a file (one for all its connections): `tsvpn-<name>` cut to 15 bytes unless named. */
export function tunOf(tun: TunJson | undefined, name: string): PeerConfig['tun'] {
  // Linux IFNAMSIZ is 16 with the NUL: at most 15 bytes (names here are ASCII)
  return { name: tun?.name ?? `tsvpn-${name}`.slice(0, 15), ...(tun?.mtu === undefined ? {} : { mtu: tun.mtu }) };
}

/** What a connection takes from the file around it. */
export interface PeerContext {
  name: string;
  tun: PeerConfig['tun'];
  /** relative file paths are relative to this directory */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /**
   * The PSK a `{"secret": name}` names (a copy the connection owns), 'failed' when that secret
   * could not be read (already reported at its own path), undefined when there is none by that
   * name. Absent for a peer.json, which has no secrets.
   */
  secret?: (name: string) => Uint8Array | 'failed' | undefined;
  /** the names `secret` knows, for the message when a name is missing */
  secretNames?: string[];
  /** A gateway file's EAP users (`secrets.eap`), a copy the connection owns; absent for a peer.json, which has none. */
  eapUsers?: () => EapUsers;
}

/**
 * What the checks across connections look at, as far as it parsed (a field is undefined
 * when its own problem was reported): the outer addresses, the peer's identity, the selectors.
 */
export interface PeerOutline {
  localAddr?: string;
  localPort: number;
  remoteAddr?: string;
  remoteId?: string;
  /** set only when every selector of the side parsed */
  localTs?: TrafficSelector[];
  remoteTs?: TrafficSelector[];
  /** a gateway connection's pools: its peers' selectors are their own leased addresses */
  pools?: string[];
  /** remote.auth "eap-mschapv2": its peers send no AUTH in their first IKE_AUTH (RFC 7296 §2.16) */
  remoteEap?: boolean;
}

/**
 * swanctl's `dynamic` on a side that asks for virtual IPs: whatever address the gateway gives,
 * so every address of each family asked for (the gateway narrows it to the one it leased,
 * RFC 7296 §2.19). Without `vips`, `dynamic` is the side's own address (resolve.ts selectors).
 */
function withVipsDynamic(ts: string[], vips: SideJson['vips']): string[] {
  if (!vips) return ts;
  return ts.flatMap((t) => {
    const dyn = /^dynamic(?=$|\[)/i.exec(t.trim());
    return dyn ? vips.map((v) => `${v}/0${t.trim().slice(dyn[0].length)}`) : [t];
  });
}

/** Does this connection carry IPv6 inside the tunnel? */
export const carriesV6 = (o: PeerOutline) => tsFamilies(o.localTs ?? []).has(6) || tsFamilies(o.remoteTs ?? []).has(6);

/** RFC 8200 §5: every link that carries IPv6 must have an MTU of at least 1280 (the TUN carries every connection). */
export function checkTunMtu(mtu: number | undefined, users: { carriesV6: boolean; path: string }[], probs: Problems): void {
  if (mtu === undefined || mtu >= 1280) return;
  const v6 = users.find((u) => u.carriesV6);
  if (!v6) return;
  const who = v6.path === '' ? 'the tunnel carries' : `${v6.path} carries`;
  probs.push({ path: '/tun/mtu', expected: `expected at least 1280 because ${who} IPv6 (RFC 8200 §5), got ${mtu}` });
}

/**
 * The meaning checks of one tunnel whose shape the schema accepted, and its PeerConfig when
 * none of them found a problem. Problems are added to `probs` with paths relative to the body.
 */
export function resolvePeer(j: PeerBodyJson, ctx: PeerContext, probs: Problems): { config?: PeerConfig; outline: PeerOutline } {
  const before = probs.length;
  const localAddr = address(j.local.addr, '/local/addr', probs, false);
  const remoteAddr = address(j.remote.addr, '/remote/addr', probs, true);
  if (localAddr && remoteAddr && remoteAddr !== ANY) {
    if (localAddr === remoteAddr) probs.push({ path: '/remote/addr', expected: `expected the peer's address, got local.addr (${localAddr}) again` });
    else if (familyOf(localAddr) !== familyOf(remoteAddr)) probs.push({ path: '/remote/addr', expected: `expected an IPv${familyOf(localAddr)} address like local.addr (${localAddr}), got ${remoteAddr}` });
  }
  const start = j.start ?? DEFAULTS.start;
  if (remoteAddr === ANY && start !== 'wait') {
    probs.push({ path: '/start', expected: `expected "wait" because remote.addr is %any (there is no address to initiate to), got ${JSON.stringify(start)}` });
  }

  // RFC 7296 §2.19: the initiator asks for a virtual IP in its IKE_AUTH request; a responder never does
  if (j.local.vips && start !== 'initiate') probs.push({ path: '/local/vips', expected: `only an initiator asks for a virtual IP: expected start "initiate", got ${JSON.stringify(start)}` });
  checkClientOptions(j, start, probs);
  const localId = identity(j.local.id, '/local/id', probs, false);
  const remoteId = identity(j.remote.id, '/remote/id', probs, true);

  const mode = j.child.mode ?? DEFAULTS.mode;
  const localTexts = withVipsDynamic(j.local.ts, j.local.vips);
  const localTs = selectors(localTexts, '/local/ts', localAddr, probs);
  const remoteTs = selectors(j.remote.ts, '/remote/ts', remoteAddr, probs);
  if (localTs.length === localTexts.length && remoteTs.length === j.remote.ts.length) checkFamilies(localTs, remoteTs, probs);
  if (mode === 'transport') {
    checkTransport(localTs, localTexts, '/local/ts', localAddr, probs);
    checkTransport(remoteTs, j.remote.ts, '/remote/ts', remoteAddr, probs);
  }

  const ike = proposals(j.ike.proposals, '/ike/proposals', 'ike', probs);
  const esp = proposals(j.child.proposals, '/child/proposals', 'esp', probs);

  const ikeLife = lifetimes(j.ike, '/ike', DEFAULTS.ikeRekey, probs);
  const childLife = lifetimes(j.child, '/child', DEFAULTS.childRekey, probs);
  const reauthS = durationSeconds(j.ike.reauth ?? '0s')!;
  if (reauthS > 0 && remoteAddr === ANY) {
    probs.push({ path: '/ike/reauth', expected: 'needs remote.addr: a new IKE SA cannot be started to %any (leave reauth out, or name the peer)' });
  }

  const outline: PeerOutline = {
    localAddr,
    localPort: j.local.port ?? DEFAULTS.port,
    remoteAddr,
    remoteId,
    ...(j.remote.auth === 'eap-mschapv2' ? { remoteEap: true } : {}),
    ...(localTs.length === localTexts.length ? { localTs } : {}),
    ...(remoteTs.length === j.remote.ts.length ? { remoteTs } : {}),
  };
  const auth = resolveAuth(j, ctx, localId, probs);
  if (probs.length > before || !auth) {
    disposeAuth(auth?.local, auth?.remote);
    return { outline };
  }

  const config: PeerConfig = {
    name: ctx.name,
    local: { addr: localAddr!, port: j.local.port ?? DEFAULTS.port, id: localId!, auth: auth.local, ts: localTs, tsText: localTs.map(formatSelector), ...(j.local.vips ? { vips: j.local.vips.map((v) => (v === '::' ? 6 : 4)) } : {}) },
    remote: { addr: remoteAddr!, port: j.remote.port ?? DEFAULTS.port, id: remoteId!, auth: auth.remote, ts: remoteTs, tsText: remoteTs.map(formatSelector) },
    ike: { proposals: ike.list, proposalText: ike.text, ...ikeLife, reauthS, dpdS: durationSeconds(j.ike.dpd ?? DEFAULTS.dpd)! },
    child: {
      name: j.child.name ?? ctx.name,
      proposals: esp.list,
      proposalText: esp.text,
      mode,
      ...childLife,
      replayWindow: j.child.replayWindow ?? DEFAULTS.replayWindow,
    },
    start,
    tun: ctx.tun,
    encap: j.encap ?? DEFAULTS.encap,
    mssClamp: j.mssClamp ?? false,
    keepaliveS: durationSeconds(j.keepalive ?? DEFAULTS.keepalive)!,
    dpdAction: j.dpdAction ?? DEFAULTS.dpdAction,
    mobike: j.mobike ?? DEFAULTS.mobike,
    ...(j.killSwitch ? { killSwitch: { allowLan: j.allowLan ?? false } } : {}),
    ...(j.dnsDomains ? { dnsDomains: j.dnsDomains.map((d) => d.toLowerCase().replace(/\.$/, '')) } : {}),
    retransmit: {
      timeout: j.retransmit?.timeout ?? DEFAULT_RETRANSMIT.timeout,
      base: j.retransmit?.base ?? DEFAULT_RETRANSMIT.base,
      tries: j.retransmit?.tries ?? DEFAULT_RETRANSMIT.tries,
    },
  };
  return { config, outline };
}

/**
 * What only a road-warrior client uses: the kill switch (it would cut a responder's peers off,
 * and a responder has no one gateway whose IKE and ESP alone may pass) and DNS domains (the
 * gateway's DNS servers come with a virtual IP, RFC 7296 §3.15.1).
 */
function checkClientOptions(j: PeerBodyJson, start: string, probs: Problems): void {
  if (j.killSwitch && start !== 'initiate') {
    probs.push({ path: '/killSwitch', expected: `only a client has a kill switch (it lets out nothing but IKE and ESP to its one gateway): expected start "initiate", got ${JSON.stringify(start)}` });
  }
  if (j.allowLan !== undefined && !j.killSwitch) probs.push({ path: '/allowLan', expected: 'only used with "killSwitch": true (without a kill switch nothing outside the tunnel is dropped); remove it' });
  if (j.dnsDomains && !j.local.vips) probs.push({ path: '/dnsDomains', expected: 'needs local.vips: DNS servers come from the gateway with a virtual IP' });
}

/**
 * rekey/life/rand of the IKE SA or the Child SA (swanctl rekey_time, life_time, rand_time): the
 * SA is rekeyed at rekey minus a random part of rand, and deleted at life if no rekey made it.
 */
function lifetimes(x: LifetimeJson, where: '/ike' | '/child', defaultRekey: string, probs: Problems): { rekeyS: number; lifeS?: number; randS?: number } {
  const rekeyS = durationSeconds(x.rekey ?? defaultRekey)!;
  const lifeS = x.life === undefined ? undefined : durationSeconds(x.life)!;
  const randS = x.rand === undefined ? undefined : durationSeconds(x.rand)!;
  if (rekeyS > 0 && lifeS !== undefined && lifeS > 0 && lifeS <= rekeyS) {
    probs.push({ path: `${where}/life`, expected: `expected longer than ${where.slice(1)}.rekey (${rekeyS}s): the SA must be rekeyed before it expires, got ${x.life}` });
  }
  if (rekeyS > 0 && randS !== undefined && randS >= rekeyS) {
    probs.push({ path: `${where}/rand`, expected: `expected shorter than ${where.slice(1)}.rekey (${rekeyS}s): the rekey happens at rekey minus up to rand, got ${x.rand}` });
  }
  return { rekeyS, ...(lifeS === undefined ? {} : { lifeS }), ...(randS === undefined ? {} : { randS }) };
}

/** local/remote auth, the PSK and the certificate files; every pairing rule is checked here. */
function resolveAuth(j: PeerBodyJson, ctx: PeerContext, localId: string | undefined, probs: Problems): { local: LocalAuth; remote: RemoteAuth } | undefined {
  const { baseDir } = ctx;
  const usesPsk = j.local.auth === 'psk' || j.remote.auth === 'psk';
  const n = probs.length;
  if (usesPsk && j.psk === undefined) {
    probs.push({ path: '/psk', expected: `required because ${j.local.auth === 'psk' ? 'local' : 'remote'}.auth is "psk"` });
  }
  if (!usesPsk && j.psk !== undefined) probs.push({ path: '/psk', expected: 'not used: neither local.auth nor remote.auth is "psk" (remove it)' });
  if (j.remote.auth === 'psk' && j.local.auth !== 'psk') {
    // RFC 7296 §2.15: the peer's PSK AUTH is checked with the same shared key we would prove ourselves with
    probs.push({ path: '/remote/auth', expected: 'expected "pubkey": a peer proving itself with a PSK needs local.auth "psk" too (one shared key both ways)' });
  }
  for (const f of ['cert', 'key'] as const) {
    if (j.local.auth === 'pubkey' && j.local[f] === undefined) probs.push({ path: `/local/${f}`, expected: 'required because local.auth is "pubkey"' });
    if (j.local.auth !== 'pubkey' && j.local[f] !== undefined) probs.push({ path: `/local/${f}`, expected: 'only used when local.auth is "pubkey" (remove it)' });
  }
  if (j.remote.auth === 'pubkey' && j.remote.ca === undefined) probs.push({ path: '/remote/ca', expected: 'required because remote.auth is "pubkey"' });
  if (j.remote.auth !== 'pubkey' && j.remote.ca !== undefined) probs.push({ path: '/remote/ca', expected: 'only used when remote.auth is "pubkey" (remove it)' });
  if (j.remote.auth !== 'pubkey' && j.remote.crls !== undefined) probs.push({ path: '/remote/crls', expected: 'only used when remote.auth is "pubkey" (remove it)' });
  eapRules(j, ctx, probs);
  if (probs.length > n) return undefined;

  let local: LocalAuth | undefined;
  if (j.local.auth === 'psk') {
    const psk = pskOf(j.psk!, ctx, probs);
    if (psk) local = { method: 'psk', psk };
  } else if (j.local.auth === 'eap-mschapv2') {
    const password = pskOf(j.eapPassword!, ctx, probs, '/eapPassword');
    if (password) local = { method: 'eap-mschapv2', eapId: j.local.eapId!, password };
  } else {
    const key = readPrivateKey(j.local.key!, baseDir);
    const chain = readCertificates('/local/cert', j.local.cert!, baseDir);
    if (!key.ok) probs.push(...key.problems);
    if (!chain.ok) probs.push(...chain.problems);
    if (key.ok && chain.ok) {
      const leaf = chain.value.certs[0];
      if (!leaf.checkPrivateKey(key.value)) {
        probs.push({ path: '/local/key', expected: `expected the key of the first certificate in ${chain.value.abs} (${leaf.subject.replace(/\n/g, ', ')}); this key belongs to another certificate` });
      } else if (localId !== undefined && !certMatchesIdentity(leaf, parseIdentity(localId))) {
        // RFC 4945 §3.1: the ID must be the certificate's subject or one of its subjectAltNames
        const names = [leaf.subject.replace(/\n/g, ', '), leaf.subjectAltName].filter(Boolean).join('; ');
        probs.push({ path: '/local/id', expected: `${JSON.stringify(localId)} is not named in the certificate ${chain.value.abs} (${names})` });
      } else {
        local = { method: 'pubkey', key: key.value, certChain: chain.value.certs.map(derOf) };
      }
    }
  }

  let remote: RemoteAuth | undefined;
  if (j.remote.auth === 'psk') remote = { method: 'psk' };
  else if (j.remote.auth === 'eap-mschapv2') remote = { method: 'eap-mschapv2', users: ctx.eapUsers!() };
  else {
    const files = typeof j.remote.ca === 'string' ? [j.remote.ca] : j.remote.ca!;
    const anchors: Uint8Array[] = [];
    files.forEach((file, i) => {
      const got = readCertificates(typeof j.remote.ca === 'string' ? '/remote/ca' : `/remote/ca/${i}`, file, baseDir);
      if (got.ok) anchors.push(...got.value.certs.map(derOf));
      else probs.push(...got.problems);
    });
    const crlFiles = j.remote.crls === undefined ? [] : typeof j.remote.crls === 'string' ? [j.remote.crls] : j.remote.crls;
    const crls: Crl[] = [];
    crlFiles.forEach((file, i) => {
      const got = readCrls(typeof j.remote.crls === 'string' ? '/remote/crls' : `/remote/crls/${i}`, file, baseDir);
      if (got.ok) crls.push(...got.value.crls);
      else probs.push(...got.problems);
    });
    if (anchors.length > 0) remote = { method: 'pubkey', trustAnchors: anchors, ...(crls.length ? { crls } : {}) };
  }
  if (!local || !remote) {
    disposeAuth(local, remote);
    return undefined;
  }
  return { local, remote };
}

/**
 * EAP (RFC 7296 §2.16) needs the gateway to prove itself with a certificate: a client with
 * local.auth "eap-mschapv2" checks the gateway's, a gateway with remote.auth "eap-mschapv2" shows its
 * own. The client needs its user name and password; the gateway needs users in /secrets/eap.
 */
function eapRules(j: PeerBodyJson, ctx: PeerContext, probs: Problems): void {
  const eapClient = j.local.auth === 'eap-mschapv2';
  if (eapClient && j.remote.auth !== 'pubkey') probs.push({ path: '/remote/auth', expected: 'expected "pubkey": with local.auth "eap-mschapv2" the gateway must prove itself with a certificate (RFC 7296 §2.16)' });
  if (eapClient && j.local.eapId === undefined) probs.push({ path: '/local/eapId', expected: 'required because local.auth is "eap-mschapv2" (the user name)' });
  if (eapClient && j.eapPassword === undefined) probs.push({ path: '/eapPassword', expected: 'required because local.auth is "eap-mschapv2"' });
  if (!eapClient && j.local.eapId !== undefined) probs.push({ path: '/local/eapId', expected: 'only used when local.auth is "eap-mschapv2" (remove it)' });
  if (!eapClient && j.eapPassword !== undefined) probs.push({ path: '/eapPassword', expected: 'only used when local.auth is "eap-mschapv2" (remove it)' });
  if (j.remote.auth !== 'eap-mschapv2') return;
  if (j.local.auth !== 'pubkey') probs.push({ path: '/local/auth', expected: 'expected "pubkey": with remote.auth "eap-mschapv2" we must prove ourselves with a certificate (RFC 7296 §2.16: EAP peers authenticate the gateway by it)' });
  if (!ctx.eapUsers) probs.push({ path: '/remote/auth', expected: '"eap-mschapv2" needs users in /secrets/eap: make this a gateway file with connections and secrets (docs/gateway.md)' });
}

/** The bytes of a PSK or EAP password `psk` (at `at`), from the file itself or from the gateway's secrets; undefined with the problem reported. */
function pskOf(psk: PskJson, ctx: PeerContext, probs: Problems, at = '/psk'): Uint8Array | undefined {
  if (typeof psk === 'string' || !('secret' in psk)) {
    const got = resolvePsk(psk, ctx.baseDir, ctx.env);
    if (got.ok) return got.value;
    probs.push(...got.problems.map((p) => ({ path: p.path.replace(/^\/psk/, at), expected: p.expected })));
    return undefined;
  }
  // the name is not repeated in messages: a key written into "secret" by mistake must not show
  if (!ctx.secret) {
    probs.push({ path: `${at}/secret`, expected: `a peer file has no secrets to name: write the key in ${at.slice(1)} itself, or make this a gateway file with connections and secrets (docs/gateway.md)` });
    return undefined;
  }
  const got = ctx.secret(psk.secret);
  if (got === undefined) {
    const known = ctx.secretNames?.length ? `it has ${ctx.secretNames.join(', ')}` : 'it has none';
    probs.push({ path: `${at}/secret`, expected: `names a secret that /secrets does not hold (${known})` });
  }
  return got === 'failed' ? undefined : got;
}
