// The handshake load generator's core, with no I/O (like strongSwan's load-tester plugin):
// `peers` simulated initiators, each an IkeSa (src/ike/ike-sa.ts) with its own IkeSaConfig,
// at most `window` of them in flight at once. The caller moves the datagrams (real UDP
// sockets in bench/lab/handshake-generator.ts, an IkeDispatcher in memory in the unit test)
// and the clock: `begin`, `receive`, `tick`. A peer is done when its IKE SA is ESTABLISHED
// with an installed Child SA, when it fails (an F-row event, FAILED or DELETED), or when it
// is still not up `deadlineMs` after its first IKE_SA_INIT; every outcome is counted.
// COOKIE and INVALID_KE_PAYLOAD answers are the IkeSa's own business (RFC 7296 §2.6, §1.2).
import type { IkeSaConfig } from '../../src/ike/config.js';
import type { Effect } from '../../src/ike/effects.js';
import { IkeSa, type Path } from '../../src/ike/ike-sa.js';

export type SendEffect = Extract<Effect, { type: 'send' }>;

export interface LoadTransport {
  /** Peer `i` is about to start: open what it sends from. Resolves with its local endpoint. */
  open(i: number): Promise<{ addr: string; port: number }>;
  /** Send one datagram of peer `i`. */
  send(i: number, e: SendEffect): void;
  /** Peer `i` is done: release what open() made. */
  close(i: number): void;
}

export interface LoadOptions {
  peers: number;
  /** Peers in flight at once. */
  window: number;
  /** Peer `i`'s configuration, its local endpoint being what the transport opened. */
  config: (i: number, local: { addr: string; port: number }) => IkeSaConfig;
  transport: LoadTransport;
  /** A peer not up this long after its start counts as timed out (ms). */
  deadlineMs: number;
}

export interface LoadResult {
  peers: number;
  established: number;
  failed: number;
  timedOut: number;
  /** The first few failure messages (F-rows), counted by message. */
  failures: Record<string, number>;
  cookies: number;
  invalidKe: number;
  retransmits: number;
  /** Clock of the first IKE_SA_INIT and of the last Child SA installed (ms, caller's clock). */
  firstInitAt: number | undefined;
  lastUpAt: number | undefined;
}

interface Flight {
  sa: IkeSa;
  startedAt: number;
  childUp: boolean;
}

export class IkeLoad {
  private next = 0;
  private readonly flying = new Map<number, Flight>();
  private opening = 0;
  private readonly r: LoadResult;
  private resolveDone!: (r: LoadResult) => void;
  /** Resolves once every peer is done. */
  readonly done: Promise<LoadResult>;

  constructor(
    private readonly o: LoadOptions,
    private readonly clock: () => number,
  ) {
    this.r = { peers: o.peers, established: 0, failed: 0, timedOut: 0, failures: {}, cookies: 0, invalidKe: 0, retransmits: 0, firstInitAt: undefined, lastUpAt: undefined };
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Start the first `window` peers. */
  begin(): void {
    this.fill();
  }

  /** A datagram for peer `i` arrived on `path` (its marker, if any, already removed). */
  receive(i: number, bytes: Uint8Array, path: Path): void {
    const f = this.flying.get(i);
    if (!f) return; // late answer for a peer already done
    this.apply(i, f, f.sa.handleDatagram(this.clock(), bytes, path));
  }

  /** Run due retransmits and deadlines. */
  tick(): void {
    const now = this.clock();
    for (const [i, f] of [...this.flying]) {
      if (now - f.startedAt >= this.o.deadlineMs) {
        this.r.timedOut++;
        this.finish(i, f);
        continue;
      }
      const t = f.sa.pollTimeout();
      if (t !== undefined && t <= now) this.apply(i, f, f.sa.handleTimeout(now));
    }
  }

  /** Peers still in flight or opening. */
  get pending(): number {
    return this.flying.size + this.opening;
  }

  get result(): LoadResult {
    return this.r;
  }

  private fill(): void {
    while (this.next < this.o.peers && this.flying.size + this.opening < this.o.window) {
      const i = this.next++;
      this.opening++;
      void this.o.transport.open(i).then(
        (local) => {
          this.opening--;
          const sa = IkeSa.initiator(this.o.config(i, local));
          const now = this.clock();
          const f: Flight = { sa, startedAt: now, childUp: false };
          this.flying.set(i, f);
          this.r.firstInitAt ??= now;
          this.apply(i, f, sa.initiate(now));
        },
        (e: Error) => {
          this.opening--;
          this.count(`opening the sockets: ${e.message}`);
          this.r.failed++;
          this.settle();
        },
      );
    }
    this.settle();
  }

  private apply(i: number, f: Flight, fx: Effect[]): void {
    let failed = false;
    for (const e of fx) {
      if (e.type === 'send') this.o.transport.send(i, e);
      else if (e.type === 'install-sa') f.childUp = true;
      else if (e.type === 'event') {
        const ev = e.event;
        if (ev.type === 'cookie-requested') this.r.cookies++;
        else if (ev.type === 'invalid-ke') this.r.invalidKe++;
        else if (ev.type === 'retransmit') this.r.retransmits++;
        else if (ev.type === 'failure' && !('pending' in ev.evidence)) {
          // F1 "no answer yet" (pending) is a first sign: the retransmits go on
          this.count(`${ev.row}: ${ev.message}`);
          failed = true;
        }
      }
    }
    const st = f.sa.state;
    if (f.childUp && st === 'ESTABLISHED') {
      this.r.established++;
      this.r.lastUpAt = this.clock();
      this.finish(i, f);
    } else if (failed || st === 'FAILED' || st === 'DELETED') {
      if (!failed) this.count(`IKE SA ${st} without a failure event`);
      this.r.failed++;
      this.finish(i, f);
    }
  }

  private count(message: string): void {
    // at most 20 distinct messages: a broken run says why without printing 1000 lines
    if (message in this.r.failures || Object.keys(this.r.failures).length < 20) this.r.failures[message] = (this.r.failures[message] ?? 0) + 1;
  }

  private finish(i: number, f: Flight): void {
    this.flying.delete(i);
    f.sa.dispose();
    this.o.transport.close(i);
    this.fill();
  }

  private settle(): void {
    if (this.next >= this.o.peers && this.flying.size === 0 && this.opening === 0) this.resolveDone(this.r);
  }
}
