// Routes IKE datagrams to IKE SAs by SPI, creates responder SAs for new IKE_SA_INIT requests,
// and demands COOKIEs when too many SAs are half-open (RFC 7296 §2.6). No I/O: the caller
// passes each datagram with its source and destination and applies the returned effects.
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
  /** The configuration for a peer that starts an IKE SA with us on this path (undefined: ignore it). */
  configFor: (path: Path) => IkeSaConfig | undefined;
  random: (n: number) => Uint8Array;
  /** Half-open SAs at or above which a COOKIE is demanded (strongSwan `cookie_threshold`). */
  cookieThreshold?: number;
}

export interface DispatcherStats {
  malformed: number;
  unknownSpi: number;
  cookiesSent: number;
  cookiesRejected: number;
  noConfig: number;
  internalErrors: number;
}

const zeroSpi = (b: Uint8Array): boolean => b.every((x) => x === 0);

export class IkeDispatcher {
  readonly stats: DispatcherStats = { malformed: 0, unknownSpi: 0, cookiesSent: 0, cookiesRejected: 0, noConfig: 0, internalErrors: 0 };
  private readonly sas = new Map<string, IkeSa>(); // by our SPI
  private readonly halfOpen = new Map<string, IkeSa>(); // responder SAs by peer address | SPIi
  private readonly cookies: CookieJar;
  private readonly threshold: number;

  constructor(private readonly opts: DispatcherOptions) {
    this.cookies = new CookieJar(opts.random);
    this.threshold = opts.cookieThreshold ?? DEFAULT_COOKIE_THRESHOLD;
  }

  /** All live IKE SAs. */
  list(): IkeSa[] {
    return [...this.sas.values()];
  }

  /** Number of responder SAs that finished IKE_SA_INIT but not IKE_AUTH. */
  halfOpenCount(): number {
    return [...this.sas.values()].filter((sa) => sa.role === 'responder' && sa.state === 'CONNECTING').length;
  }

  /** Start an IKE SA as initiator. */
  initiate(now: number, cfg: IkeSaConfig): { sa: IkeSa; effects: Effect[] } {
    const sa = IkeSa.initiator(cfg);
    this.sas.set(spiHex(sa.localSpi), sa);
    return { sa, effects: sa.initiate(now) };
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
    let t: number | undefined;
    for (const sa of this.sas.values()) {
      const x = sa.pollTimeout();
      if (x !== undefined && (t === undefined || x < t)) t = x;
    }
    return t;
  }

  handleTimeout(now: number): Effect[] {
    const out: Effect[] = [];
    for (const sa of [...this.sas.values()]) {
      const due = sa.pollTimeout();
      if (due !== undefined && due <= now) out.push(...sa.handleTimeout(now));
      this.reap(sa);
    }
    return out;
  }

  /** Rotate the cookie secret (RFC 7296 §2.6 recommends doing so periodically). */
  rotateCookieSecret(): void {
    this.cookies.rotate();
  }

  private route(now: number, bytes: Uint8Array, path: Path): Effect[] {
    const h = decodeHeader(bytes);
    const newInit = h.exchangeType === ExchangeType.IKE_SA_INIT && !h.flags.response && h.flags.initiator && zeroSpi(h.spiR) && h.messageId === 0;
    if (newInit) {
      const key = `${path.from.addr}|${path.from.port}|${spiHex(h.spiI)}`;
      const existing = this.halfOpen.get(key);
      if (existing) {
        const fx = existing.handleDatagram(now, bytes, path); // a retransmit gets the cached response
        this.reap(existing);
        return fx;
      }
      const cfg = this.opts.configFor(path);
      if (!cfg) {
        this.stats.noConfig++;
        return [];
      }
      if (this.halfOpenCount() >= this.threshold) {
        const refusal = this.checkCookie(bytes, path);
        if (refusal) return refusal;
      }
      const sa = IkeSa.responder(cfg, path);
      const fx = sa.handleDatagram(now, bytes, path);
      if (sa.state === 'CONNECTING') {
        this.sas.set(spiHex(sa.localSpi), sa);
        this.halfOpen.set(key, sa);
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
    const fx = sa.handleDatagram(now, bytes, path);
    this.reap(sa);
    return fx;
  }

  /** RFC 7296 §2.6: under load, an IKE_SA_INIT without a valid COOKIE is answered with one. */
  private checkCookie(bytes: Uint8Array, path: Path): Effect[] | undefined {
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
   * commands it gave an IkeSa directly. Forget SAs that are over, and half-open bookkeeping.
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
  }

  /** Forget SAs that are over, and half-open bookkeeping of SAs that finished IKE_AUTH. */
  private reap(sa: IkeSa): void {
    this.adopt(sa);
    if (sa.state !== 'CONNECTING') for (const [k, v] of this.halfOpen) if (v === sa) this.halfOpen.delete(k);
  }
}

