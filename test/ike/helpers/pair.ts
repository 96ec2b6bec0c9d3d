// Two IKE state machines back to back in memory: `send` effects of one are delivered to the
// other, with hooks to drop, duplicate or reorder. The responder side sits behind an
// IkeDispatcher, as in the daemon. Time is a plain number (ms) the test advances.
import { parseProposal } from '../../../src/crypto/proposal.js';
import { DEFAULT_RETRANSMIT, type ChildConfig, type Endpoint, type IkeSaConfig, type LocalAuth, type RemoteAuth } from '../../../src/ike/config.js';
import { IkeDispatcher } from '../../../src/ike/dispatcher.js';
import type { Effect, IkeEvent } from '../../../src/ike/effects.js';
import { IkeSa } from '../../../src/ike/ike-sa.js';
import type { AddressPool } from '../../../src/ike/address-pool.js';
import type { TrafficSelector } from '../../../src/wire/types.js';
import { seededRandom } from './random.js';

export const I_ADDR: Endpoint = { addr: '198.51.100.1', port: 500 };
export const R_ADDR: Endpoint = { addr: '198.51.100.2', port: 500 };

/** "10.1.0.0/16" -> an IPv4 range selector, any protocol and port (test-side, independent of selectors.ts). */
export function cidr(text: string): TrafficSelector {
  const [a, len] = text.split('/');
  const n = a.split('.').reduce((acc, x) => (acc << 8) | Number(x), 0) >>> 0;
  const bits = Number(len ?? 32);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const start = (n & mask) >>> 0;
  const end = (start | (~mask >>> 0)) >>> 0;
  const bytes = (v: number) => Uint8Array.from([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
  return { tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: bytes(start), endAddr: bytes(end) };
}

export interface SideOptions {
  id: string;
  remoteId?: string;
  ike?: string[];
  esp?: string[];
  localTs?: string[];
  remoteTs?: string[];
  mode?: 'tunnel' | 'transport';
  localAuth?: LocalAuth;
  remoteAuth?: RemoteAuth;
  seed: number;
  noChild?: boolean;
  /** A gateway's pools (shared objects: pass the same one to several pairs). */
  pools?: AddressPool[];
  /** Ask for a virtual IP of these families. */
  requestVips?: (4 | 6)[];
  /** MOBIKE offered (RFC 4555 §3.2); on when not given, as in peer.json. */
  mobike?: boolean;
}

export const psk = (text = 'correct horse battery staple'): LocalAuth => ({ method: 'psk', psk: new TextEncoder().encode(text) });

export function config(o: SideOptions, local: Endpoint, remote: Endpoint): IkeSaConfig {
  const child: ChildConfig = {
    name: 'net',
    // numbered from 1 as the config loader does (src/config/resolve.ts): the initiator checks the answer's number
    espProposals: (o.esp ?? ['aes256gcm16']).map((p, i) => ({ ...parseProposal(p, 'esp'), number: i + 1 })),
    localTs: (o.localTs ?? ['10.1.0.0/16']).map(cidr),
    remoteTs: (o.remoteTs ?? ['10.2.0.0/16']).map(cidr),
    mode: o.mode ?? 'tunnel',
  };
  return {
    name: 'test',
    local,
    remote,
    proposals: (o.ike ?? ['aes256gcm16-prfsha256-x25519']).map((p, i) => ({ ...parseProposal(p, 'ike'), number: i + 1 })),
    localId: o.id,
    remoteId: o.remoteId,
    localAuth: o.localAuth ?? psk(),
    remoteAuth: o.remoteAuth ?? { method: 'psk' },
    children: o.noChild ? [] : [child],
    retransmit: DEFAULT_RETRANSMIT,
    random: seededRandom(o.seed),
    wallClock: () => Date.now(),
    ...(o.pools ? { pools: o.pools } : {}),
    ...(o.requestVips ? { requestVips: o.requestVips } : {}),
    ...(o.mobike !== undefined ? { mobike: o.mobike } : {}),
  };
}

/** deliver, drop, deliver twice, or hold back until after the next round's messages (reorder). */
export type Filter = (m: { from: 'i' | 'r'; bytes: Uint8Array; index: number }) => 'deliver' | 'drop' | 'duplicate' | 'hold';

export class Pair {
  now = 0;
  readonly initiator: IkeSa;
  readonly dispatcher: IkeDispatcher;
  readonly iEffects: Effect[] = [];
  readonly rEffects: Effect[] = [];
  readonly iCfg: IkeSaConfig;
  readonly rCfg: IkeSaConfig;
  private count = 0;

  /** `more`: further connections of the responder on the same path, after `r` (a gateway's candidates). */
  constructor(i: SideOptions, r: SideOptions, readonly filter: Filter = () => 'deliver', cookieThreshold?: number, more: IkeSaConfig[] = []) {
    this.iCfg = config(i, I_ADDR, R_ADDR);
    this.rCfg = config(r, R_ADDR, I_ADDR);
    this.initiator = IkeSa.initiator(this.iCfg);
    this.dispatcher = new IkeDispatcher({ configFor: () => [this.rCfg, ...more], random: seededRandom(r.seed + 1000), cookieThreshold });
  }

  get responder(): IkeSa | undefined {
    return this.dispatcher.list()[0];
  }

  /** Deliver effects until nobody has anything to send. */
  run(first: Effect[], from: 'i' | 'r' = 'i'): void {
    let queue: { from: 'i' | 'r'; fx: Effect[] }[] = [{ from, fx: first }];
    (from === 'i' ? this.iEffects : this.rEffects).push(...first);
    let guard = 0;
    let held: { from: 'i' | 'r'; fx: Effect[] }[] = [];
    while ((queue.length || held.length) && guard++ < 100) {
      const next: typeof queue = [];
      if (queue.length === 0) {
        queue = held.map((h) => ({ ...h, released: true }));
        held = [];
      }
      for (const { from: f, fx, released } of queue as { from: 'i' | 'r'; fx: Effect[]; released?: boolean }[]) {
        for (const e of fx) {
          if (e.type !== 'send') continue;
          const verdict = released ? 'deliver' : this.filter({ from: f, bytes: e.bytes, index: this.count++ });
          if (verdict === 'drop') continue;
          if (verdict === 'hold') {
            held.push({ from: f, fx: [e] });
            continue;
          }
          const times = verdict === 'duplicate' ? 2 : 1;
          for (let k = 0; k < times; k++) {
            const got = f === 'i' ? this.toResponder(e.bytes, e.from, e.to) : this.initiator.handleDatagram(this.now, e.bytes, { from: e.from, to: this.natAddr ? { addr: I_ADDR.addr, port: e.to.port - this.natPortOffset } : e.to });
            (f === 'i' ? this.rEffects : this.iEffects).push(...got);
            next.push({ from: f === 'i' ? 'r' : 'i', fx: got });
          }
        }
      }
      queue = next;
    }
  }

  /** Put the initiator behind a NAT with this public address (ports are mapped +natPortOffset). */
  natAddr: string | undefined;
  natPortOffset = 30000;

  toResponder(bytes: Uint8Array, from: Endpoint, to: Endpoint): Effect[] {
    const src = this.natAddr ? { addr: this.natAddr, port: from.port + this.natPortOffset } : from;
    return this.dispatcher.handleDatagram(this.now, bytes, { from: src, to });
  }

  establish(): void {
    this.run(this.initiator.initiate(this.now));
  }

  /** Advance the clock to the next timer of either side and run what it sends. */
  tick(): boolean {
    const t = [this.initiator.pollTimeout(), this.dispatcher.pollTimeout()].filter((x): x is number => x !== undefined);
    if (t.length === 0) return false;
    this.now = Math.min(...t);
    this.run(this.initiator.handleTimeout(this.now), 'i');
    this.run(this.dispatcher.handleTimeout(this.now), 'r');
    return true;
  }
}

export const events = (fx: Effect[]): IkeEvent[] => fx.flatMap((e) => (e.type === 'event' ? [e.event] : []));
export const sends = (fx: Effect[]): Uint8Array[] => fx.flatMap((e) => (e.type === 'send' ? [e.bytes] : []));
export const installs = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'install-sa' ? [e.child] : []));
export const failures = (fx: Effect[]) => events(fx).filter((e) => e.type === 'failure');
