// strongSwan (Debian 5.9.8 charon + swanctl) as a lab peer inside a network namespace
// (LAB.md "strongSwan as a peer"). Each instance gets:
// - its own directory with a private strongswan.conf (explicit charon.load list with
//   kernel-libipsec: the kernel has no ESP, so charon's SAs live in its userspace ESP on
//   a TUN named ipsec0, with routes in table 220),
// - its own mount namespace with a tmpfs on /run (charon's pid file lives in /var/run,
//   which network namespaces share; a second charon would refuse to start),
// - its own vici socket in that directory, used by swanctl from the host side,
// - a file log at ike=2 (no key material at that level).
// Credentials (`files`) are written under the instance's swanctl directory (x509/,
// x509ca/, private/, ...), and swanctl runs with SWANCTL_DIR pointing there.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { parseListSas, type ParsedSa } from './swanctl-parse.js';
import { sleep, until } from './wait.js';

export type { ParsedChild, ParsedSa } from './swanctl-parse.js';

export const CHARON = process.env.TSVPN_CHARON ?? '/usr/lib/ipsec/charon';
export const SWANCTL = process.env.TSVPN_SWANCTL ?? 'swanctl';

/** Plugins charon needs here: kernel-libipsec + kernel-netlink, sockets, vici, crypto, certs. */
export const CHARON_PLUGINS =
  'random nonce aes sha1 sha2 hmac gcm chapoly curve25519 gmp openssl kdf pem pkcs1 pkcs8 x509 pubkey ' +
  'constraints kernel-libipsec kernel-netlink socket-default vici';

export class StrongswanError extends Error {
  override name = 'StrongswanError';
}

/** Why strongSwan cannot run here (for skipIf reasons), or ok. */
export function strongswanSupport(): { ok: true } | { ok: false; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'strongSwan in a namespace needs root' };
  if (!existsSync(CHARON)) return { ok: false, why: `${CHARON} is missing: apt-get install strongswan-charon libcharon-extra-plugins libstrongswan-extra-plugins` };
  if (spawnSync(SWANCTL, ['--version']).error) return { ok: false, why: 'swanctl is missing: apt-get install strongswan-swanctl' };
  if (spawnSync('unshare', ['--help']).error) return { ok: false, why: 'unshare is missing (util-linux)' };
  return { ok: true };
}

export interface StrongswanOptions {
  /** Network namespace to run in (must exist). */
  ns: string;
  /** Instance name (log prefixes, temp directory). */
  name: string;
  /** swanctl.conf text (connections + secrets). */
  conf: string;
  /** Credential files by path relative to the swanctl dir, e.g. {"x509ca/ca.pem": pem, "private/key.pem": pem}. */
  files?: Record<string, string>;
  /** charon filelog level for ike/cfg/chd (default 2; 4 prints key material). */
  charonLogLevel?: number;
  /** charon filelog level for esp, i.e. kernel-libipsec (default 1; 2 logs each inbound ESP header and each packet for an unknown SPI). */
  espLogLevel?: number;
  /** Extra lines inside `charon { }` of strongswan.conf (e.g. "retransmit_tries = 2"). */
  charonConf?: string;
  /** Plugins to load besides CHARON_PLUGINS (e.g. ["eap-identity", "eap-mschapv2"], package libcharon-extauth-plugins). */
  plugins?: string[];
  /** Keep the instance directory after stop() (debugging). */
  keep?: boolean;
  /** Milliseconds to wait for the vici socket (default 10000). */
  startTimeoutMs?: number;
}

export interface SwanctlResult {
  ok: boolean;
  status: number | null;
  output: string;
}

export interface Strongswan {
  readonly name: string;
  readonly ns: string;
  /** Instance directory (strongswan.conf, swanctl.conf, charon.log, vici socket). */
  readonly dir: string;
  /** vici URI, e.g. unix:///tmp/tsvpn-ss-xxxx/charon.vici. */
  readonly vici: string;
  readonly pid: number;
  /** Current IKE SAs as charon sees them (`swanctl --list-sas`). */
  listSas(): ParsedSa[];
  /** Replace the loaded connections/secrets (and credential files) with a new swanctl.conf. */
  load(conf: string, files?: Record<string, string>): SwanctlResult;
  /** `swanctl --initiate --child <child>`; resolves when charon reports the result. */
  initiate(child: string, o?: { ike?: string; timeoutS?: number }): Promise<SwanctlResult>;
  /** `swanctl --terminate --ike <ike>` (sends Delete). */
  terminate(ike: string, o?: { timeoutS?: number }): Promise<SwanctlResult>;
  /** Run any swanctl command against this instance. */
  swanctl(args: string[]): SwanctlResult;
  /** Poll listSas() until pred holds; resolves with the SAs, rejects on timeout. */
  waitFor(pred: (sas: ParsedSa[]) => boolean, timeoutMs?: number, what?: string): Promise<ParsedSa[]>;
  /** charon's file log so far (ike=2). */
  log(): string;
  /** True while charon runs. */
  running(): boolean;
  /** SIGTERM charon (SIGKILL after 3 s), remove the directory. Idempotent. */
  stop(): Promise<void>;
}

function strongswanConf(dir: string, level: number, extra: string, espLevel: number, plugins: string[]): string {
  return `# private strongswan.conf of one lab instance (interop/lab/strongswan.ts)
charon {
  load_modular = no
  load = ${[CHARON_PLUGINS, ...plugins].join(' ')}
  install_virtual_ip = no
  ${extra}
  plugins {
    vici {
      socket = unix://${dir}/charon.vici
    }
  }
  filelog {
    lab {
      path = ${dir}/charon.log
      time_format = %T
      flush_line = yes
      default = 1
      cfg = ${level}
      ike = ${level}
      chd = ${level}
      knl = 1
      net = 1
      esp = ${espLevel}
    }
  }
  syslog {
    identifier = charon-lab
    daemon {
      default = -1
    }
  }
}
`;
}

function writeFiles(swanctlDir: string, files: Record<string, string> | undefined): void {
  for (const sub of ['x509', 'x509ca', 'private', 'rsa', 'ecdsa', 'pkcs8', 'conf.d']) mkdirSync(join(swanctlDir, sub), { recursive: true });
  for (const [rel, text] of Object.entries(files ?? {})) {
    if (rel.startsWith('/') || rel.split('/').includes('..')) throw new StrongswanError(`credential path must stay in the swanctl dir: ${rel}`);
    const p = join(swanctlDir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text, { mode: 0o600 });
  }
}

/** Start charon in `ns` and load `conf`. Throws StrongswanError with charon's output on failure. */
export async function startStrongswan(o: StrongswanOptions): Promise<Strongswan> {
  const dir = mkdtempSync(join(tmpdir(), `tsvpn-ss-${o.name}-`));
  const vici = `unix://${dir}/charon.vici`;
  const swanctlDir = join(dir, 'swanctl');
  writeFileSync(join(dir, 'strongswan.conf'), strongswanConf(dir, o.charonLogLevel ?? 2, o.charonConf ?? '', o.espLogLevel ?? 1, o.plugins ?? []));
  writeFiles(swanctlDir, o.files);
  writeFileSync(join(dir, 'charon.log'), '');

  // `ip netns exec` and `unshare` exec in place (no fork), so the child's pid is charon's.
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', o.ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs tmpfs /run && exec env STRONGSWAN_CONF="$1" "$2"',
      'charon', join(dir, 'strongswan.conf'), CHARON],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let exited: number | null | undefined;
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exitP = new Promise<void>((r) => child.on('exit', (code, sig) => { exited = code ?? (sig ? -1 : null); r(); }));
  let stopped = false;

  const cleanupDir = () => { if (!o.keep) rmSync(dir, { recursive: true, force: true }); };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exited === undefined) {
      child.kill('SIGTERM');
      await Promise.race([exitP, sleep(3000)]);
      if (exited === undefined) {
        child.kill('SIGKILL');
        await Promise.race([exitP, sleep(2000)]);
      }
    }
    cleanupDir();
  };

  const run = (args: string[]): SwanctlResult => {
    const r = spawnSync(SWANCTL, [...args, '-u', vici], { encoding: 'utf8', env: { ...process.env, SWANCTL_DIR: swanctlDir }, timeout: 60_000, maxBuffer: 64 << 20 }); // `--list-sas` of 1000 SAs is several MiB (spawnSync's default cap is 1 MiB)
    if (r.error) return { ok: false, status: null, output: String(r.error) };
    return { ok: r.status === 0, status: r.status, output: `${r.stdout}${r.stderr}` };
  };
  const runAsync = (args: string[]): Promise<SwanctlResult> =>
    new Promise((resolve) => {
      const p = spawn(SWANCTL, [...args, '-u', vici], { env: { ...process.env, SWANCTL_DIR: swanctlDir }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr.on('data', (d: Buffer) => (text += d.toString()));
      p.on('error', (e) => resolve({ ok: false, status: null, output: String(e) }));
      p.on('close', (status) => resolve({ ok: status === 0, status, output: text }));
    });
  const log = (): string => { try { return readFileSync(join(dir, 'charon.log'), 'utf8'); } catch { return ''; } };

  const load = (conf: string, files?: Record<string, string>): SwanctlResult => {
    if (files) writeFiles(swanctlDir, files);
    const file = join(swanctlDir, 'swanctl.conf');
    writeFileSync(file, conf, { mode: 0o600 });
    // --clear drops credentials of the previous config; load-conns drops connections not in the file
    return run(['--load-all', '--clear', '--noprompt', '--file', file]);
  };

  try {
    await until(
      () => {
        if (exited !== undefined) throw new StrongswanError(`charon in ${o.ns} exited (${exited}) before opening vici:\n${out}\n${log()}`);
        return existsSync(join(dir, 'charon.vici'));
      },
      { timeout: o.startTimeoutMs ?? 10_000, interval: 20, what: `charon in ${o.ns} to open its vici socket`, show: () => `none; charon's output:\n${out}\n${log()}` },
    );
    const loaded = load(o.conf);
    if (!loaded.ok) throw new StrongswanError(`swanctl --load-all failed in ${o.ns}:\n${loaded.output}`);
  } catch (e) {
    await stop();
    throw e;
  }

  const listSas = (): ParsedSa[] => {
    const r = run(['--list-sas', '--pretty']);
    if (!r.ok) throw new StrongswanError(`swanctl --list-sas failed: ${r.output}`);
    return parseListSas(r.output);
  };

  return {
    name: o.name,
    ns: o.ns,
    dir,
    vici,
    pid: child.pid ?? -1,
    listSas,
    load,
    initiate: (c, io = {}) =>
      runAsync(['--initiate', '--child', c, ...(io.ike ? ['--ike', io.ike] : []), '--timeout', String(io.timeoutS ?? 20)]),
    terminate: (ike, io = {}) => runAsync(['--terminate', '--ike', ike, '--timeout', String(io.timeoutS ?? 10)]),
    swanctl: run,
    waitFor: (pred, timeoutMs = 10_000, what = 'condition') =>
      until(listSas, {
        timeout: timeoutMs,
        what: `strongSwan ${o.name}: ${what}`,
        done: pred,
        show: (sas) => JSON.stringify(sas.map(({ raw, ...s }) => ({ ...s, children: s.children.map(({ raw: _r, ...c }) => c) }))),
      }),
    log,
    running: () => exited === undefined,
    stop,
  };
}

/** True when some IKE SA is ESTABLISHED with an INSTALLED Child SA (optionally of `child`). */
export function hasInstalled(sas: ParsedSa[], child?: string): boolean {
  return sas.some((s) => s.state === 'ESTABLISHED' && s.children.some((c) => c.state === 'INSTALLED' && (!child || c.name === child)));
}

/**
 * ESP packets for SPI `spi` (hex) that kernel-libipsec dropped because no SA had that SPI (any
 * more), read from a charon log written with espLogLevel 2: each "does not belong to an
 * installed SA" line, matched to the "parsed ESP header with SPI" line before it from the same
 * charon thread.
 */
export function libipsecUnknownSpiDrops(log: string, spi: string): number {
  const want = spi.toLowerCase().padStart(8, '0');
  const lastSpi = new Map<string, string>(); // charon thread -> SPI of the last ESP header it parsed
  let n = 0;
  for (const line of log.split('\n')) {
    const m = /^\S+ (\d+)\[ESP\] (.*)$/.exec(line);
    if (!m) continue;
    const h = /parsed ESP header with SPI ([0-9a-f]{8})/.exec(m[2]);
    if (h) lastSpi.set(m[1], h[1]);
    else if (m[2].includes('does not belong to an installed SA') && lastSpi.get(m[1]) === want) n++;
  }
  return n;
}

/** The virtual IPs charon got for its ESTABLISHED IKE SA (`swanctl --list-sas`: local-vips). */
export function localVips(c: Strongswan): string[] {
  const sa = c.listSas().find((s) => s.state === 'ESTABLISHED');
  const v = sa?.raw['local-vips'];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
