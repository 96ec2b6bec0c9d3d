// Message IDs, request retransmission and the response cache (RFC 7296 §2.1, §2.2), window 1.
// Times are milliseconds on the caller's clock; the SA never reads a clock itself.
import type { Endpoint, RetransmitConfig } from './config.js';

/** Delay before retransmit number `n` (0 = wait after the first transmission), in ms. */
export function retransmitDelay(cfg: RetransmitConfig, n: number): number {
  // strongSwan task_manager: timeout * base^n (retransmit_timeout * retransmit_base^n)
  return Math.round(cfg.timeout * 1000 * Math.pow(cfg.base, n));
}

export interface OutstandingRequest {
  messageId: number;
  exchange: number;
  bytes: Uint8Array;
  to: Endpoint;
  from: Endpoint;
  retransmits: number; // how many times it was sent again
  deadline: number; // when to retransmit or give up
}

export type TimeoutAction =
  | { action: 'none' }
  | { action: 'retransmit'; request: OutstandingRequest }
  | { action: 'give-up'; request: OutstandingRequest };

/** Our side as initiator of exchanges: one request in flight (RFC 7296 §2.3, window size 1). */
export class RequestWindow {
  nextMessageId = 0; // RFC 7296 §2.2: the first request is 0, each new request +1
  outstanding: OutstandingRequest | undefined;

  constructor(private readonly cfg: RetransmitConfig) {}

  /** Records a request just sent; it takes the next Message ID unless `messageId` is given. */
  sent(now: number, exchange: number, bytes: Uint8Array, to: Endpoint, from: Endpoint, messageId = this.nextMessageId): void {
    this.outstanding = { messageId, exchange, bytes, to, from, retransmits: 0, deadline: now + retransmitDelay(this.cfg, 0) };
  }

  /** RFC 7296 §2.2: a response is matched to the request by Message ID. */
  matches(messageId: number): boolean {
    return this.outstanding !== undefined && this.outstanding.messageId === messageId;
  }

  /** The response arrived: the exchange is over and the next request gets the next ID. */
  completed(): void {
    if (this.outstanding) this.nextMessageId = this.outstanding.messageId + 1;
    this.outstanding = undefined;
  }

  /** Replace the request in flight without consuming an ID (IKE_SA_INIT retried with COOKIE or another KE). */
  replace(now: number, bytes: Uint8Array): void {
    if (!this.outstanding) return;
    this.outstanding = { ...this.outstanding, bytes, retransmits: 0, deadline: now + retransmitDelay(this.cfg, 0) };
  }

  /** The SA's path changed (RFC 7296 §2.23 a NAT's new mapping, RFC 4555 §3.5 MOBIKE): a request in flight is retransmitted on the new one. */
  moved(to: Endpoint, from: Endpoint): void {
    if (this.outstanding) this.outstanding = { ...this.outstanding, to: { ...to }, from: { ...from } };
  }

  pollTimeout(): number | undefined {
    return this.outstanding?.deadline;
  }

  onTimeout(now: number): TimeoutAction {
    const r = this.outstanding;
    if (!r || now < r.deadline) return { action: 'none' };
    if (r.retransmits >= this.cfg.tries) return { action: 'give-up', request: r };
    r.retransmits += 1;
    r.deadline = now + retransmitDelay(this.cfg, r.retransmits);
    return { action: 'retransmit', request: r };
  }

  clear(): void {
    this.outstanding = undefined;
  }
}

export type RequestClass = 'new' | 'retransmit' | 'stale' | 'out-of-window';

/** The peer's requests to us: the next expected ID and the cached last response (RFC 7296 §2.1). */
export class ResponseCache {
  expected = 0; // Message ID of the next request we accept
  private last: { messageId: number; request: Uint8Array; response: Uint8Array[] } | undefined;

  classify(messageId: number, bytes: Uint8Array): RequestClass {
    if (messageId === this.expected) return 'new';
    if (this.last && messageId === this.last.messageId) {
      // RFC 7296 §2.1: a retransmitted request is answered with the same response; we require
      // the request to be byte-identical so a different message with an old ID cannot trigger it.
      return equalBytes(bytes, this.last.request) ? 'retransmit' : 'stale';
    }
    if (messageId < this.expected) return 'stale';
    return 'out-of-window';
  }

  /** Store the response to the request with `messageId` and advance the window. */
  store(messageId: number, request: Uint8Array, response: Uint8Array[]): void {
    this.last = { messageId, request: request.slice(), response };
    this.expected = messageId + 1;
  }

  cached(): Uint8Array[] {
    return this.last?.response ?? [];
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
