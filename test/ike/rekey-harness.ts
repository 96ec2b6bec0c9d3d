// Two IKE peers, each behind its own IkeDispatcher (as in the daemon), with every message held
// in a queue until the test delivers it: one message at a time, like strongSwan's exchange tests.
// Each side also applies its effects to a model datapath that checks make-before-break: at every
// step the SPI a side sends on must be an inbound SA the other side has, with the same keys.
import { expect } from 'vitest';
import { IkeDispatcher } from '../../src/ike/dispatcher.js';
import type { ChildSaInfo, Effect, IkeEvent } from '../../src/ike/effects.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import type { IkeSaConfig } from '../../src/ike/config.js';
import type { ChildSa } from '../../src/ike/sa-context.js';
import { config, I_ADDR, R_ADDR, type SideOptions } from './helpers/pair.js';
import { seededRandom } from './helpers/random.js';

export type Side = 'a' | 'b';
export interface Msg { bytes: Uint8Array; from: Side }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** What a daemon would hold: SAs by inbound SPI, and the SPD entries in match order (src/daemon/policy-order.ts). */
export class ModelDatapath {
  readonly sas = new Map<number, { spiOut: number; keyIn: string; keyOut: string }>();
  /** Inbound SPIs of the SAs with a policy entry, first match first. */
  readonly entries: number[] = [];
  readonly log: string[] = [];

  /** Inbound SPI of the SA the policy sends on (the first entry). */
  get policy(): number | undefined {
    return this.entries[0];
  }

  apply(fx: Effect[]): void {
    for (const e of fx) {
      if (e.type === 'install-sa') this.install(e.child, e.rekeys);
      else if (e.type === 'install-policy') {
        expect(this.sas.has(e.policy.spiIn)).toBe(true);
        // ours goes first; one the peer made waits behind the SA in use (a reauthentication)
        if (e.policy.active || this.entries.length === 0) this.entries.unshift(e.policy.spiIn);
        else this.entries.push(e.policy.spiIn);
        this.log.push(`policy ${e.policy.spiIn.toString(16)}`);
      } else if (e.type === 'switch-outbound') {
        const at = this.entries.indexOf(e.from.spiIn);
        expect(at).toBe(0); // the policy moves from the SA that has it
        expect(this.sas.has(e.spiIn)).toBe(true); // ... to an SA installed before (make-before-break)
        this.entries[at] = e.spiIn;
        this.log.push(`switch ${e.spiIn.toString(16)}`);
      } else if (e.type === 'remove-policy') {
        const at = this.entries.indexOf(e.policy.spiIn);
        expect(at).toBeGreaterThanOrEqual(0); // only the owner's policy is removed
        this.entries.splice(at, 1);
        this.log.push('unpolicy');
      } else if (e.type === 'remove-sa') {
        expect(this.entries).not.toContain(e.spiIn); // never remove an SA a policy sends on
        this.sas.delete(e.spiIn);
        this.log.push(`remove ${e.spiIn.toString(16)}`);
      }
    }
  }

  private install(c: ChildSaInfo, rekeys?: { spiIn: number }): void {
    expect(this.sas.has(c.spiIn)).toBe(false);
    this.sas.set(c.spiIn, { spiOut: c.spiOut, keyIn: hex(c.keysIn.encr) + hex(c.keysIn.integ), keyOut: hex(c.keysOut.encr) + hex(c.keysOut.integ) });
    this.log.push(`install ${c.spiIn.toString(16)}${rekeys ? ` (rekeys ${rekeys.spiIn.toString(16)})` : ''}`);
  }

  /** The SA traffic leaves on, if any. */
  get sending(): { spiIn: number; spiOut: number; keyOut: string } | undefined {
    const s = this.policy === undefined ? undefined : this.sas.get(this.policy);
    return s && { spiIn: this.policy!, spiOut: s.spiOut, keyOut: s.keyOut };
  }
}

export class Lab {
  now = 1_000;
  readonly a: IkeDispatcher;
  readonly b: IkeDispatcher;
  readonly aCfg: IkeSaConfig;
  readonly bCfg: IkeSaConfig;
  readonly queue: { a: Msg[]; b: Msg[] } = { a: [], b: [] }; // messages on their way TO a / TO b
  readonly fx: { a: Effect[]; b: Effect[] } = { a: [], b: [] };
  readonly dp = { a: new ModelDatapath(), b: new ModelDatapath() };
  /** Check make-before-break after every step (off only for peers that break it on purpose). */
  checking = true;
  /** When set, the next nonces this side makes start with this byte (strongSwan's nonce_first_byte). */
  nonceByte: { a?: number; b?: number } = {};

  constructor(a: SideOptions, b: SideOptions, tweak?: (cfg: IkeSaConfig, side: Side) => void) {
    this.aCfg = this.withNonces(config(a, I_ADDR, R_ADDR), 'a');
    this.bCfg = this.withNonces(config(b, R_ADDR, I_ADDR), 'b');
    tweak?.(this.aCfg, 'a');
    tweak?.(this.bCfg, 'b');
    this.a = new IkeDispatcher({ configFor: () => [], random: seededRandom(a.seed + 500) });
    this.b = new IkeDispatcher({ configFor: () => [this.bCfg], random: seededRandom(b.seed + 1000) });
  }

  /** Every nonce each side made, in order. */
  readonly nonces: { a: Uint8Array[]; b: Uint8Array[] } = { a: [], b: [] };

  private withNonces(cfg: IkeSaConfig, side: Side): IkeSaConfig {
    const base = cfg.random;
    cfg.random = (n: number) => {
      const r = base(n);
      const first = this.nonceByte[side];
      if (n === 32 && first !== undefined) r[0] = first; // only nonces are 32 bytes long here
      if (n === 32) this.nonces[side].push(r.slice());
      return r;
    };
    return cfg;
  }

  /** IKE_SA_INIT and IKE_AUTH, all delivered. */
  establish(): void {
    this.record('a', this.a.initiate(this.now, this.aCfg).effects);
    this.flush();
    expect(this.ike('a').state).toBe('ESTABLISHED');
    expect(this.ike('b').state).toBe('ESTABLISHED');
  }

  disp(side: Side): IkeDispatcher {
    return side === 'a' ? this.a : this.b;
  }

  /** The IKE SA of `side` that holds the Child SAs (the current one after rekeys). */
  ike(side: Side): IkeSa {
    const l = this.disp(side).list();
    return l.find((s) => s.children.some((c) => c.state !== 'DELETED')) ?? l.find((s) => s.state === 'ESTABLISHED') ?? l[0];
  }

  /** The Child SA of `side` with our inbound SPI `spi`, or the only INSTALLED one. */
  child(side: Side): Readonly<ChildSa>;
  child(side: Side, spi: number): Readonly<ChildSa> | undefined;
  child(side: Side, spi?: number): Readonly<ChildSa> | undefined {
    const all = this.disp(side).list().flatMap((s) => s.children);
    if (spi !== undefined) return all.find((c) => c.spiIn === spi);
    const c = all.find((x) => x.state === 'INSTALLED');
    if (!c) throw new Error(`${side} has no installed Child SA`);
    return c;
  }

  children(side: Side) {
    return this.disp(side).list().flatMap((s) => s.children);
  }

  /** Run a command on a side's IKE SA and queue what it sends. */
  cmd(side: Side, f: (sa: IkeSa) => Effect[], sa = this.ike(side)): Effect[] {
    const fx = f(sa);
    this.disp(side).adopt(sa);
    this.record(side, fx);
    return fx;
  }

  record(side: Side, fx: Effect[]): void {
    this.fx[side].push(...fx);
    this.dp[side].apply(fx);
    const other: Side = side === 'a' ? 'b' : 'a';
    for (const e of fx) if (e.type === 'send') this.queue[other].push({ bytes: e.bytes, from: side });
    this.checkPaths();
  }

  /** Deliver the oldest message (or `msg`) waiting for `to`; returns the effects it caused there. */
  deliver(to: Side, msg?: Msg): Effect[] {
    const m = msg ?? this.queue[to].shift();
    if (!m) throw new Error(`nothing queued for ${to}`);
    const path = to === 'b' ? { from: I_ADDR, to: R_ADDR } : { from: R_ADDR, to: I_ADDR };
    const fx = this.disp(to).handleDatagram(this.now, m.bytes, path);
    this.record(to, fx);
    return fx;
  }

  /** Take the oldest message for `to` out of the path (to deliver later, or never). */
  hold(to: Side): Msg {
    const m = this.queue[to].shift();
    if (!m) throw new Error(`nothing queued for ${to}`);
    return m;
  }

  /** Deliver everything, in order, until nobody sends. */
  flush(): void {
    for (let n = 0; n < 200 && (this.queue.a.length || this.queue.b.length); n++) {
      if (this.queue.b.length) this.deliver('b');
      if (this.queue.a.length) this.deliver('a');
    }
  }

  /** Advance to `t` and run both sides' timers that are due. */
  advance(t: number): void {
    this.now = t;
    for (const side of ['a', 'b'] as const) {
      const d = this.disp(side);
      const due = d.pollTimeout();
      if (due !== undefined && due <= t) this.record(side, d.handleTimeout(t));
      // a timer that has run leaves no deadline in the past behind (no busy loop in the daemon)
      expect(d.pollTimeout() ?? Infinity).toBeGreaterThan(t);
    }
  }

  events(side: Side, from = 0): IkeEvent[] {
    return this.fx[side].slice(from).flatMap((e) => (e.type === 'event' ? [e.event] : []));
  }

  /**
   * Make-before-break: whatever SA a side sends on must be an inbound SA of the other side, with
   * the same keys, at every step (no packet in flight finds its SPI missing).
   */
  checkPaths(): void {
    if (!this.checking) return;
    for (const [me, peer] of [['a', 'b'], ['b', 'a']] as const) {
      const s = this.dp[me].sending;
      if (!s) continue;
      const there = this.dp[peer].sas.get(s.spiOut);
      if (this.dp[peer].policy === undefined && this.dp[peer].sas.size === 0) continue; // the peer has nothing (both torn down)
      expect(there, `${me} sends on SPI ${s.spiOut.toString(16)}, which ${peer} does not have (${this.dp[peer].log.join('; ')})`).toBeDefined();
      expect(there!.keyIn).toBe(s.keyOut);
    }
  }

  /** At rest: each side has exactly one Child SA, the two halves of one pair, and the policy on it. */
  expectOnePair(): { a: number; b: number } {
    expect(this.queue.a.length + this.queue.b.length).toBe(0);
    const ca = this.children('a').filter((c) => c.state !== 'DELETED');
    const cb = this.children('b').filter((c) => c.state !== 'DELETED');
    expect(ca.map((c) => c.state)).toEqual(['INSTALLED']);
    expect(cb.map((c) => c.state)).toEqual(['INSTALLED']);
    expect(ca[0].spiIn).toBe(cb[0].spiOut);
    expect(ca[0].spiOut).toBe(cb[0].spiIn);
    expect([...this.dp.a.sas.keys()]).toEqual([ca[0].spiIn]);
    expect([...this.dp.b.sas.keys()]).toEqual([cb[0].spiIn]);
    expect(this.dp.a.policy).toBe(ca[0].spiIn);
    expect(this.dp.b.policy).toBe(cb[0].spiIn);
    return { a: ca[0].spiIn, b: cb[0].spiIn };
  }
}

export const ofType = <T extends IkeEvent['type']>(evs: IkeEvent[], t: T) => evs.filter((e): e is Extract<IkeEvent, { type: T }> => e.type === t);
