// SA lifetimes: when to rekey (soft) and when to delete (hard), in the manner of strongSwan's
// swanctl.conf `rekey_time`, `life_time` and `rand_time` (RFC 7296 §2.8 leaves lifetimes to
// local policy and says each end rekeys on its own timer). Times are ms on the caller's clock.

/** strongSwan's defaults (swanctl.conf): Child SA `rekey_time` 1 h, IKE SA `rekey_time` 4 h. */
export const DEFAULT_CHILD_REKEY_S = 3600;
export const DEFAULT_IKE_REKEY_S = 4 * 3600;
/** swanctl.conf: `life_time` defaults to rekey_time * 1.1 and `rand_time` to life_time - rekey_time. */
export const DEFAULT_LIFE_FACTOR = 1.1;

/** Implementation choice: after TEMPORARY_FAILURE (RFC 7296 §2.25) or a failed rekey, retry after 2-10 s. */
export const RETRY_MIN_MS = 2000;
export const RETRY_SPREAD_MS = 8000;

export interface LifetimeConfig {
  rekeyTime?: number; // seconds; 0 = never rekey
  lifeTime?: number; // seconds; 0 = no hard limit
  randTime?: number; // seconds of jitter subtracted from rekeyTime
}

export interface Lifetime {
  /** When to start the rekey (ms), or undefined when rekeying is off. */
  rekeyAt: number | undefined;
  /** When the SA must be gone (ms), or undefined for no hard limit. */
  expireAt: number | undefined;
}

/** A uniform fraction in [0, 1) from the injectable random source (tests pass a seeded one). */
export function fraction(random: (n: number) => Uint8Array): number {
  const b = random(4);
  return (((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0) / 0x1_0000_0000;
}

/**
 * The soft and hard deadlines of an SA created at `now`: rekey at rekey_time minus a random
 * part of rand_time, expire at life_time (strongSwan child_cfg/peer_cfg get_lifetime).
 */
export function planLifetime(now: number, c: LifetimeConfig, defaultRekeyS: number, random: (n: number) => Uint8Array): Lifetime {
  const rekey = c.rekeyTime ?? defaultRekeyS;
  const life = c.lifeTime ?? (rekey > 0 ? Math.round(rekey * DEFAULT_LIFE_FACTOR) : 0);
  const rand = Math.max(0, Math.min(c.randTime ?? (life > rekey ? life - rekey : 0), rekey));
  const expireAt = life > 0 ? now + life * 1000 : undefined;
  if (rekey <= 0) return { rekeyAt: undefined, expireAt };
  let rekeyAt = now + Math.round((rekey - rand * fraction(random)) * 1000);
  if (expireAt !== undefined && rekeyAt >= expireAt) rekeyAt = Math.max(now, expireAt - 1000); // soft before hard
  return { rekeyAt, expireAt };
}

/**
 * When to reauthenticate an IKE SA authenticated at `now`: reauth_time minus a random part of
 * rand_time (default a tenth of reauth_time), so the two ends seldom start together.
 */
export function planReauth(now: number, reauthS: number | undefined, randS: number | undefined, random: (n: number) => Uint8Array): number | undefined {
  if (!reauthS || reauthS <= 0) return undefined;
  const rand = Math.max(0, Math.min(randS ?? reauthS / 10, reauthS));
  return now + Math.round((reauthS - rand * fraction(random)) * 1000);
}

/** The retry time after TEMPORARY_FAILURE or a failed rekey: 2-10 s from now, jittered so both ends do not collide again. */
export function retryAt(now: number, random: (n: number) => Uint8Array): number {
  return now + RETRY_MIN_MS + Math.floor(fraction(random) * RETRY_SPREAD_MS);
}

/** Byte and packet limits (swanctl.conf `rekey_bytes`, `rekey_packets`); 0 or absent = none. */
export interface UsageLimits {
  rekeyBytes?: number;
  rekeyPackets?: number;
}

/** What the datapath reports about a Child SA (either direction's counters, whichever is larger). */
export interface ChildUsage {
  bytes?: number;
  packets?: number;
  /** The outbound sequence number passed its soft limit (RFC 4303 §3.3.3: it must never wrap). */
  seqSoft?: boolean;
}

export function usageDue(limits: UsageLimits, u: ChildUsage): 'bytes' | 'packets' | 'sequence' | undefined {
  if (u.seqSoft) return 'sequence';
  if (limits.rekeyBytes && u.bytes !== undefined && u.bytes >= limits.rekeyBytes) return 'bytes';
  if (limits.rekeyPackets && u.packets !== undefined && u.packets >= limits.rekeyPackets) return 'packets';
  return undefined;
}
