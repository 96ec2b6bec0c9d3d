// Small helpers for building and finding payloads in the tasks.
import { NOTIFY_ERROR_MAX, NotifyType, nameOf } from '../wire/constants.js';
import type { NotifyPayload, Payload, PayloadKind } from '../wire/types.js';

export function notify(notifyType: number, data: Uint8Array = new Uint8Array(0), protocol = 0, spi = new Uint8Array(0)): NotifyPayload {
  return { kind: 'N', critical: false, protocol, spi, notifyType, data };
}

export function findNotify(payloads: Payload[], notifyType: number): NotifyPayload | undefined {
  return payloads.find((p): p is NotifyPayload => p.kind === 'N' && p.notifyType === notifyType);
}

export function allNotifies(payloads: Payload[], notifyType: number): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.kind === 'N' && p.notifyType === notifyType);
}

/** RFC 7296 §3.10.1: the first error-type notify (type below 16384), if any. */
export function firstError(payloads: Payload[]): NotifyPayload | undefined {
  return payloads.find((p): p is NotifyPayload => p.kind === 'N' && p.notifyType <= NOTIFY_ERROR_MAX);
}

export function notifyName(t: number): string {
  return nameOf(NotifyType, t);
}

/** The payload record type whose `kind` includes K (IdPayload for 'IDi', TsPayload for 'TSr', ...). */
export type OfKind<K extends PayloadKind, P = Payload> = P extends { kind: infer X } ? (K extends X ? P : never) : never;

export function first<K extends PayloadKind>(payloads: Payload[], kind: K): OfKind<K> | undefined {
  return payloads.find((p) => p.kind === kind) as OfKind<K> | undefined;
}

export function all<K extends PayloadKind>(payloads: Payload[], kind: K): OfKind<K>[] {
  return payloads.filter((p) => p.kind === kind) as OfKind<K>[];
}

/** RFC 7427 §4: SIGNATURE_HASH_ALGORITHMS data is a list of 2-octet hash identifiers. */
export function encodeHashList(ids: number[]): Uint8Array {
  const out = new Uint8Array(ids.length * 2);
  ids.forEach((id, i) => {
    out[2 * i] = id >> 8;
    out[2 * i + 1] = id & 0xff;
  });
  return out;
}

export function decodeHashList(data: Uint8Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) ids.push((data[i] << 8) | data[i + 1]);
  return ids;
}
