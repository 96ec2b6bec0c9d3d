// Which payloads each exchange may carry, as a table (RFC 7296 §1.2–§1.5, §2.5), in the
// manner of strongSwan's message rules: per (exchange, request/response) the allowed payload
// kinds, how many of each, and whether they must be inside SK. The exchange tasks then only
// check meaning, not syntax.

import { ExchangeType, NOTIFY_ERROR_MAX, NotifyType, nameOf } from './constants.js';
import type { Payload, PayloadKind } from './types.js';

export type RuleResult =
  | { ok: true }
  | {
      ok: false;
      reason: string;
      /** Notify type the responder may send back (only ever over an authenticated path, §2.21). */
      notify?: number;
      /** Notification Data for `notify`, e.g. the payload type for UNSUPPORTED_CRITICAL_PAYLOAD. */
      notifyData?: Uint8Array;
    };

interface PayloadRule {
  min: number;
  max: number;
}

interface MessageRule {
  /** RFC 7296 §1.2: every exchange after IKE_SA_INIT is protected by SK. */
  encrypted: boolean;
  payloads: Partial<Record<PayloadKind, PayloadRule>>;
  /**
   * A response that reports a failure is complete with only Notify payloads (RFC 7296
   * §1.2 NO_PROPOSAL_CHOSEN / INVALID_KE_PAYLOAD / COOKIE, §2.21 AUTHENTICATION_FAILED):
   * when such a notify is present, minimum counts are not enforced.
   */
  sufficientNotify?: (notifyType: number) => boolean;
}

// Implementation limits on repeated payloads: bounds on work per message, not RFC numbers.
const MANY_NOTIFY = 32;
const MANY_VENDOR = 32;
const MANY_CERT = 16;
const MANY_CERTREQ = 16;
const MANY_DELETE = 32;

const one = { min: 1, max: 1 };
const optional = { min: 0, max: 1 };
const notifies = { min: 0, max: MANY_NOTIFY };
const vendors = { min: 0, max: MANY_VENDOR };

const isError = (t: number): boolean => t <= NOTIFY_ERROR_MAX; // RFC 7296 §3.10.1
const isErrorOrCookie = (t: number): boolean => isError(t) || t === NotifyType.COOKIE; // §2.6

const TABLE: Record<string, MessageRule> = {
  // RFC 7296 §1.2: HDR, SAi1, KEi, Ni  (plus N(COOKIE) first when retrying, §2.6)
  [`${ExchangeType.IKE_SA_INIT}:req`]: {
    encrypted: false,
    payloads: { SA: one, KE: one, NONCE: one, N: notifies, V: vendors },
  },
  // RFC 7296 §1.2: HDR, SAr1, KEr, Nr, [CERTREQ]; or a lone error / COOKIE notify (§2.6)
  [`${ExchangeType.IKE_SA_INIT}:resp`]: {
    encrypted: false,
    payloads: { SA: one, KE: one, NONCE: one, CERTREQ: { min: 0, max: MANY_CERTREQ }, N: notifies, V: vendors },
    sufficientNotify: isErrorOrCookie,
  },
  // RFC 7296 §1.2: SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}; EAP rounds
  // (§2.16) and childless IKE_AUTH (RFC 6023) omit most of them, so none is mandatory here
  [`${ExchangeType.IKE_AUTH}:req`]: {
    encrypted: true,
    payloads: {
      IDi: optional,
      CERT: { min: 0, max: MANY_CERT },
      CERTREQ: { min: 0, max: MANY_CERTREQ },
      IDr: optional,
      AUTH: optional,
      EAP: optional,
      SA: optional,
      TSi: optional,
      TSr: optional,
      CP: optional,
      N: notifies,
      V: vendors,
    },
  },
  // RFC 7296 §1.2: SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}
  [`${ExchangeType.IKE_AUTH}:resp`]: {
    encrypted: true,
    payloads: {
      IDr: optional,
      CERT: { min: 0, max: MANY_CERT },
      AUTH: optional,
      EAP: optional,
      SA: optional,
      TSi: optional,
      TSr: optional,
      CP: optional,
      N: notifies,
      V: vendors,
    },
    sufficientNotify: isError,
  },
  // RFC 7296 §1.3: SK {[N(REKEY_SA)], SA, Ni, [KEi], [TSi, TSr]}
  [`${ExchangeType.CREATE_CHILD_SA}:req`]: {
    encrypted: true,
    payloads: { SA: one, NONCE: one, KE: optional, TSi: optional, TSr: optional, CP: optional, N: notifies, V: vendors },
  },
  // RFC 7296 §1.3: SK {SA, Nr, [KEr], [TSi, TSr]}, or an error notify (§1.3, NO_ADDITIONAL_SAS ...)
  [`${ExchangeType.CREATE_CHILD_SA}:resp`]: {
    encrypted: true,
    payloads: { SA: one, NONCE: one, KE: optional, TSi: optional, TSr: optional, CP: optional, N: notifies, V: vendors },
    sufficientNotify: isError,
  },
  // RFC 7296 §1.4: SK {[N,] [D,] [CP,] ...}, possibly empty (liveness check, §2.4)
  [`${ExchangeType.INFORMATIONAL}:req`]: {
    encrypted: true,
    payloads: { N: notifies, D: { min: 0, max: MANY_DELETE }, CP: optional, V: vendors },
  },
  [`${ExchangeType.INFORMATIONAL}:resp`]: {
    encrypted: true,
    payloads: { N: notifies, D: { min: 0, max: MANY_DELETE }, CP: optional, V: vendors },
  },
};

const syntax = (reason: string): RuleResult => ({ ok: false, reason, notify: NotifyType.INVALID_SYNTAX });

/**
 * Checks the payload set of a message against the table.
 * @param outer the payloads outside SK (the SK payload itself is ignored here)
 * @param inner the decrypted payloads of SK, or null when the message has no SK payload
 */
export function checkPayloadRules(
  exchangeType: number,
  isResponse: boolean,
  outer: Payload[],
  inner: Payload[] | null,
): RuleResult {
  const exchange = nameOf(ExchangeType, exchangeType);
  const where = `${exchange} ${isResponse ? 'response' : 'request'}`;
  const rule = TABLE[`${exchangeType}:${isResponse ? 'resp' : 'req'}`];
  if (rule === undefined) return { ok: false, reason: `unknown exchange type ${exchange}` };

  // RFC 7296 §2.5: an unknown payload with the critical bit refuses the whole message;
  // without it, the payload is skipped
  for (const p of [...outer, ...(inner ?? [])]) {
    if (p.kind === 'UNKNOWN' && p.critical) {
      return {
        ok: false,
        reason: `unsupported critical payload type ${p.payloadType} in ${where}`,
        notify: NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
        notifyData: Uint8Array.of(p.payloadType), // RFC 7296 §3.10.1: one-octet payload type
      };
    }
  }

  const hasSk = outer.some((p) => p.kind === 'SK');
  if (rule.encrypted && (!hasSk || inner === null)) return syntax(`${where} has no Encrypted (SK) payload`);
  if (!rule.encrypted && (hasSk || inner !== null)) return syntax(`${where} must not carry an SK payload`);

  const counts = new Map<PayloadKind, number>();
  const tally = (list: Payload[], insideSk: boolean): RuleResult | null => {
    for (const p of list) {
      if (p.kind === 'UNKNOWN' || p.kind === 'SK') continue;
      if (rule.payloads[p.kind] === undefined) return syntax(`payload ${p.kind} not allowed in ${where}`);
      if (rule.encrypted && !insideSk) return syntax(`payload ${p.kind} must be inside SK in ${where}`);
      counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
    }
    return null;
  };
  const bad = tally(outer, false) ?? tally(inner ?? [], true);
  if (bad) return bad;

  for (const [kind, { max }] of Object.entries(rule.payloads) as [PayloadKind, PayloadRule][]) {
    const n = counts.get(kind) ?? 0;
    if (n > max) return syntax(`${n} ${kind} payloads in ${where}, at most ${max} allowed`);
  }

  const all = rule.encrypted ? (inner ?? []) : outer;
  const sufficient =
    rule.sufficientNotify !== undefined &&
    all.some((p) => p.kind === 'N' && rule.sufficientNotify!(p.notifyType));
  if (!sufficient) {
    for (const [kind, { min }] of Object.entries(rule.payloads) as [PayloadKind, PayloadRule][]) {
      if ((counts.get(kind) ?? 0) < min) return syntax(`missing ${kind} payload in ${where}`);
    }
  }
  return { ok: true };
}
