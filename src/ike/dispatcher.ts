// Routes IKE datagrams to IKE SAs by SPI, creates responder SAs for new IKE_SA_INIT requests,
// demands COOKIEs under load (RFC 7296 §2.6), caps half-open SAs per source address and in
// total, and marks the failures of SAs that never authenticated their peer. No I/O: the caller
// passes each datagram with its source, destination and the time, and applies the effects.
// The limits and what they bound are in docs/dos.md.
import { ExchangeType, IKE_MAJOR_VERSION, IKE_MINOR_VERSION, NotifyType } from '../wire/constants.js';
import { decodeHeader, decodeMessage, encodeMessage } from '../wire/message.js';
import type { IkeSaConfig } from './config.js';
import { CookieJar, DEFAULT_COOKIE_THRESHOLD } from './cookie.js';
import type { Effect } from './effects.js';
import { classifyError } from './errors.js';
import { IkeSa, type Path } from './ike-sa.js';
import { first, notify } from './payloads.js';
import { spiHex } from '../wire/spi.js';

export interface DispatcherOptions {
  /**
   * The connections a peer that starts an IKE SA with us on this path may use, best address
   * match first (empty: ignore it); with several, the SA picks one by its proposals and the
   * peer's identity (src/ike/select-config.ts).
   */
  configFor: (path: Path) => readonly IkeSaConfig[];
  random: (n: number) => Uint8Array;
  /**
   * Load at or above which a COOKIE is demanded (strongSwan `cookie_threshold`): half-open SAs
   * plus the IKE_SA_INIT requests refused in the last REFUSED_WINDOW_MS (e.g. no acceptable
   * proposal), which never become half-open but cost a DH computation or an error each.
   */
  cookieThreshold?: number;
  /** Half-open SAs from one source address above which a new IKE_SA_INIT is dropped (strongSwan `block_threshold`). */
  blockThreshold?: number;
  /** Half-open SAs in total above which a new IKE_SA_INIT is dropped (strongSwan `init_limit_half_open`). */
  halfOpenLimit?: number;
  /** How long a COOKIE secret signs new cookies before it is replaced (ms). */
  cookieRotationMs?: number;
}

// Implementation choice: strongSwan's `charon.block_threshold` default.
export const DEFAULT_BLOCK_THRESHOLD = 5;
// Implementation choice: strongSwan's default (0) is no limit; ours bounds memory (docs/dos.md).
export const DEFAULT_HALF_OPEN_LIMIT = 1000;
// Implementation choice: RFC 7296 §2.6 leaves the period open; a cookie stays valid 1-2 periods.
export const DEFAULT_COOKIE_ROTATION_MS = 120_000;
/** Refused IKE_SA_INIT requests count toward the COOKIE threshold for this long (two buckets). */
export const REFUSED_WINDOW_MS = 10_000;

export interface DispatcherStats {
  malformed: number;
  unknownSpi: number;
  cookiesSent: number;
  cookiesRejected: number;
  noConfig: number;
  internalErrors: number;
  /** New IKE_SA_INIT dropped: its source address had blockThreshold half-open SAs. */
  halfOpenPerAddress: number;
  /** New IKE_SA_INIT dropped: halfOpenLimit SAs were half-open. */
  halfOpenLimit: number;
  /** New IKE_SA_INIT answered with an error (no SA kept): they count toward the COOKIE threshold. */
  initRefused: number;
}

const zeroSpi = (b: Uint8Array): boolean => b.every((x) => x === 0);

export class IkeDispatcher {
  readonly stats: DispatcherStats = {
    malformed: 0,
    unknownSpi: 0,
    cookiesSent: 0,
    cookiesRejected: 0,
    noConfig: 0,
    internalErrors: 0,
    halfOpenPerAddress: 0,
    halfOpenLimit: 0,
    initRefused: 0,
  };
  private readonly sas = new Map<string, IkeSa>(); // by our SPI
  private readonly halfOpen = new Map<string, IkeSa>(); // responder SAs by peer address | port | SPIi
  private readonly halfOpenKey = new Map<IkeSa, { key: string; addr: string }>(); // the address it came from
  private readonly perAddress = new Map<string, number>(); // half-open SAs by peer address
  private readonly cookies: CookieJar;
  private readonly threshold: number;
  private readonly blockThreshold: number;
  private readonly halfOpenLimit: number;
  private readonly rotationMs: number;
  /** When the cookie secret is next replaced; undefined while no cookie is outstanding. */
  private rotateAt: number | undefined;
  private cookiesSinceRotation = false;
  private refused = { bucket: 0, now: 0, before: 0 }; // refused IKE_SA_INIT per REFUSED_WINDOW_MS/2 bucket

  constructor(private readonly opts: DispatcherOptions) {
    this.cookies = new CookieJar(opts.random);
    this.threshold = opts.cookieThreshold ?? DEFAULT_COOKIE_THRESHOLD;
    this.blockThreshold = opts.blockThreshold ?? DEFAULT_BLOCK_THRESHOLD;
    this.halfOpenLimit = opts.halfOpenLimit ?? DEFAULT_HALF_OPEN_LIMIT;
    this.rotationMs = opts.cookieRotationMs ?? DEFAULT_COOKIE_ROTATION_MS;
  }

  /** All live IKE SAs. */
  list(): IkeSa[] {
    return [...this.sas.values()];
  }

  /** Number of responder SAs that finished IKE_SA_INIT but not IKE_AUTH. */
  halfOpenCount(): number {
    return this.halfOpen.size;
  }

  /** Start an IKE SA as initiator. */
  initiate(now: number, cfg: IkeSaConfig): { sa: IkeSa; effects: Effect[] } {
    const sa = IkeSa.initiator(cfg);
    this.sas.set(spiHex(sa.localSpi), sa);
    return { sa, effects: this.mark(sa, sa.initiate(now)) };
  }

  handleDatagram(now: number, bytes: Uint8Array, path: Path): Effect[] {
    try {
      return this.route(now, bytes, path);
    } catch (e) {
      const k = classifyError(e);
      if (k === 'internalErrors') this.stats.internalErrors++;
      else this.stats.malformed++;
      return [];
    }
  }

  pollTimeout(): number | undefined {
    let t = this.rotateAt;
    for (const sa of this.sas.values()) {
      const x = sa.pollTimeout();
      if (x !== undefined && (t === undefined || x < t)) t = x;
    }
    return t;
  }

  handleTimeout(now: number): Effect[] {
    if (this.rotateAt !== undefined && now >= this.rotateAt) this.rotateCookieSecret(now);
    const out: Effect[] = [];
    for (const sa of [...this.sas.values()]) {
      const due = sa.pollTimeout();
      if (due !== undefined && due <= now) out.push(...this.mark(sa, sa.handleTimeout(now)));
      this.adopt(sa);
    }
    return out;
  }

  /**
   * RFC 7296 §2.6: replace the cookie secret; cookies of the previous one stay valid one more
   * period, the one before is zeroed. Rotations go on while cookies are handed out: a secret
   * that signed a cookie is gone within two periods of its last one.
   */
  private rotateCookieSecret(now: number): void {
    this.cookies.rotate();
    this.rotateAt = this.cookiesSinceRotation ? now + this.rotationMs : undefined;
    this.cookiesSinceRotation = false;
  }

  /** Zero the cookie secrets (the daemon's teardown). */
  dispose(): void {
    this.cookies.dispose();
    this.rotateAt = undefined;
  }

  private route(now: number, bytes: Uint8Array, path: Path): Effect[] {
    const h = decodeHeader(bytes);
    const newInit = h.exchangeType === ExchangeType.IKE_SA_INIT && !h.flags.response && h.flags.initiator && zeroSpi(h.spiR) && h.messageId === 0;
    if (newInit) {
      const key = `${path.from.addr}|${path.from.port}|${spiHex(h.spiI)}`;
      const existing = this.halfOpen.get(key);
      if (existing) {
        const fx = this.mark(existing, existing.handleDatagram(now, bytes, path)); // a retransmit gets the cached response
        this.adopt(existing);
        return fx;
      }
      const cfgs = this.opts.configFor(path);
      if (cfgs.length === 0) {
        this.stats.noConfig++;
        return [];
      }
      if (this.halfOpen.size + this.refusedRecently(now) >= this.threshold) {
        const refusal = this.checkCookie(now, bytes, path);
        if (refusal) return refusal;
      }
      // after the COOKIE: under load only a peer that receives at its address gets this far
      if ((this.perAddress.get(path.from.addr) ?? 0) >= this.blockThreshold) {
        this.stats.halfOpenPerAddress++;
        return [];
      }
      if (this.halfOpen.size >= this.halfOpenLimit) {
        this.stats.halfOpenLimit++;
        return [];
      }
      const sa = IkeSa.responder(cfgs, path);
      const fx = this.mark(sa, sa.handleDatagram(now, bytes, path));
      if (sa.state === 'CONNECTING') {
        this.sas.set(spiHex(sa.localSpi), sa);
        this.halfOpen.set(key, sa);
        this.halfOpenKey.set(sa, { key, addr: path.from.addr });
        this.perAddress.set(path.from.addr, (this.perAddress.get(path.from.addr) ?? 0) + 1);
      } else {
        this.stats.initRefused++;
        this.countRefused(now);
        sa.dispose();
      }
      return fx;
    }
    // our SPI is SPIr in messages from the original initiator, SPIi otherwise (RFC 7296 §3.1)
    const ours = h.flags.initiator ? h.spiR : h.spiI;
    const sa = this.sas.get(spiHex(ours));
    if (!sa) {
      this.stats.unknownSpi++;
      return [];
    }
    const fx = this.mark(sa, sa.handleDatagram(now, bytes, path));
    this.adopt(sa);
    return fx;
  }

  /**
   * Events carry the connection of the SA they came from (`conn`), so a daemon with many
   * connections gives each its own. A responder SA whose peer has not proven its identity (no
   * `remoteId` yet) belongs to no connection yet (IKE_AUTH chooses one: select-config.ts): its
   * events carry none, and its failures are marked `unauthenticated`: anyone can cause them,
   * so the daemon keeps them apart from the connections' own.
   */
  mark(sa: IkeSa, fx: Effect[]): Effect[] {
    const unproven = sa.role === 'responder' && sa.remoteId === undefined;
    const conn = unproven ? undefined : sa.name;
    const from = { ...sa.remote };
    for (let i = 0; i < fx.length; i++) {
      const e = fx[i];
      if (e.type !== 'event') continue;
      const ev = unproven && e.event.type === 'failure' ? { ...e.event, unauthenticated: { from } } : e.event;
      fx[i] = conn === undefined ? { type: 'event', event: ev } : { type: 'event', event: ev, conn };
    }
    return fx;
  }

  /** Refused IKE_SA_INIT requests in the last REFUSED_WINDOW_MS (this bucket and the one before). */
  private refusedRecently(now: number): number {
    const bucket = Math.floor(now / (REFUSED_WINDOW_MS / 2));
    if (bucket !== this.refused.bucket) {
      this.refused = { bucket, now: 0, before: bucket === this.refused.bucket + 1 ? this.refused.now : 0 };
    }
    return this.refused.now + this.refused.before;
  }

  private countRefused(now: number): void {
    this.refusedRecently(now);
    this.refused.now++;
  }

  /** RFC 7296 §2.6: under load, an IKE_SA_INIT without a valid COOKIE is answered with one. */
  private checkCookie(now: number, bytes: Uint8Array, path: Path): Effect[] | undefined {
    const msg = decodeMessage(bytes);
    const nonce = first(msg.payloads, 'NONCE');
    if (!nonce) {
      this.stats.malformed++;
      return [];
    }
    const got = msg.payloads[0]?.kind === 'N' && msg.payloads[0].notifyType === NotifyType.COOKIE ? msg.payloads[0].data : undefined;
    if (got && this.cookies.verify(got, nonce.data, path.from, msg.header.spiI)) return undefined;
    if (got) this.stats.cookiesRejected++;
    this.stats.cookiesSent++;
    this.cookiesSinceRotation = true;
    this.rotateAt ??= now + this.rotationMs;
    const cookie = this.cookies.make(nonce.data, path.from, msg.header.spiI);
    const reply = encodeMessage(
      {
        spiI: msg.header.spiI,
        spiR: new Uint8Array(8), // stateless: no responder SPI yet
        majorVersion: IKE_MAJOR_VERSION,
        minorVersion: IKE_MINOR_VERSION,
        exchangeType: ExchangeType.IKE_SA_INIT,
        flags: { initiator: false, version: false, response: true },
        messageId: 0,
      },
      [notify(NotifyType.COOKIE, cookie)],
    );
    return [{ type: 'send', bytes: reply, to: { ...path.from }, from: { ...path.to } }];
  }

  /**
   * Index IKE SAs that a rekey created (RFC 7296 §2.18: new SPIs); the daemon may call this after
   * commands it gave an IkeSa directly. Forget SAs that are over, and the half-open bookkeeping
   * of SAs no longer half-open.
   */
  adopt(sa: IkeSa): void {
    for (const s of sa.takeSuccessors()) {
      this.sas.set(spiHex(s.localSpi), s);
      this.adopt(s);
    }
    // an SA a command ended (e.g. forget() on INITIAL_CONTACT) may have no timer left to reap it
    if ((sa.state === 'DELETED' || sa.state === 'FAILED') && sa.pollTimeout() === undefined && this.sas.get(spiHex(sa.localSpi)) === sa) {
      this.sas.delete(spiHex(sa.localSpi));
      sa.dispose();
    }
    if (sa.state !== 'CONNECTING') this.notHalfOpen(sa);
  }

  private notHalfOpen(sa: IkeSa): void {
    const entry = this.halfOpenKey.get(sa);
    if (entry === undefined) return;
    const { key, addr } = entry;
    this.halfOpenKey.delete(sa);
    this.halfOpen.delete(key);
    const n = (this.perAddress.get(addr) ?? 1) - 1;
    if (n > 0) this.perAddress.set(addr, n);
    else this.perAddress.delete(addr);
  }
}

