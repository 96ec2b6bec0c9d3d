// Per-exchange payload rules (RFC 7296 §1.2–1.5, §2.5).
import { describe, it, expect } from 'vitest';
import { checkPayloadRules } from '../../src/wire/rules.js';
import { ExchangeType as X, NotifyType } from '../../src/wire/constants.js';
import type { Payload } from '../../src/wire/types.js';

const e = new Uint8Array(0);
const SA: Payload = { kind: 'SA', critical: false, proposals: [] };
const KE: Payload = { kind: 'KE', critical: false, group: 31, data: new Uint8Array(32) };
const NONCE: Payload = { kind: 'NONCE', critical: false, data: new Uint8Array(32) };
const IDi: Payload = { kind: 'IDi', critical: false, idType: 2, data: e };
const IDr: Payload = { kind: 'IDr', critical: false, idType: 2, data: e };
const AUTH: Payload = { kind: 'AUTH', critical: false, method: 2, data: e };
const TSi: Payload = { kind: 'TSi', critical: false, selectors: [] };
const TSr: Payload = { kind: 'TSr', critical: false, selectors: [] };
const D: Payload = { kind: 'D', critical: false, protocol: 1, spiSize: 0, spis: [] };
const SK: Payload = { kind: 'SK', critical: false, firstInner: 35, body: e, aad: e };
const N = (notifyType: number): Payload => ({ kind: 'N', critical: false, protocol: 0, spi: e, notifyType, data: e });
const unknown = (critical: boolean): Payload => ({ kind: 'UNKNOWN', critical, payloadType: 200, data: e });
const NATD = N(NotifyType.NAT_DETECTION_SOURCE_IP);

describe('payload rules', () => {
  it('accepts a normal IKE_SA_INIT request and response', () => {
    expect(checkPayloadRules(X.IKE_SA_INIT, false, [SA, KE, NONCE, NATD, N(NotifyType.NAT_DETECTION_DESTINATION_IP)], null)).toEqual({ ok: true });
    expect(checkPayloadRules(X.IKE_SA_INIT, true, [SA, KE, NONCE, NATD, { kind: 'CERTREQ', critical: false, encoding: 4, data: e }], null)).toEqual({ ok: true });
  });

  it('accepts IKE_SA_INIT responses that are only an error or COOKIE notify', () => {
    for (const t of [NotifyType.NO_PROPOSAL_CHOSEN, NotifyType.INVALID_KE_PAYLOAD, NotifyType.COOKIE]) {
      expect(checkPayloadRules(X.IKE_SA_INIT, true, [N(t)], null)).toEqual({ ok: true });
    }
  });

  it('refuses an IKE_SA_INIT response of only a status notify, and a request missing KE', () => {
    expect(checkPayloadRules(X.IKE_SA_INIT, true, [NATD], null)).toMatchObject({ ok: false, notify: NotifyType.INVALID_SYNTAX });
    const r = checkPayloadRules(X.IKE_SA_INIT, false, [SA, NONCE], null);
    expect(r).toMatchObject({ ok: false, notify: NotifyType.INVALID_SYNTAX });
    expect(!r.ok && r.reason).toMatch(/missing KE/);
  });

  it('refuses two SA payloads and a payload kind the exchange does not carry', () => {
    expect(checkPayloadRules(X.IKE_SA_INIT, false, [SA, SA, KE, NONCE], null)).toMatchObject({ ok: false, notify: NotifyType.INVALID_SYNTAX });
    expect(checkPayloadRules(X.IKE_SA_INIT, false, [SA, KE, NONCE, D], null)).toMatchObject({ ok: false, notify: NotifyType.INVALID_SYNTAX });
  });

  it('unknown critical payload -> UNSUPPORTED_CRITICAL_PAYLOAD with its type; non-critical is ignored (§2.5)', () => {
    expect(checkPayloadRules(X.IKE_SA_INIT, false, [SA, KE, NONCE, unknown(true)], null)).toMatchObject({
      ok: false,
      notify: NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
      notifyData: Uint8Array.of(200),
    });
    expect(checkPayloadRules(X.IKE_SA_INIT, false, [SA, KE, NONCE, unknown(false)], null)).toEqual({ ok: true });
    expect(checkPayloadRules(X.INFORMATIONAL, false, [SK], [unknown(true)])).toMatchObject({
      notify: NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
    });
  });

  it('accepts an IKE_AUTH request inside SK; refuses one outside SK or without SK', () => {
    expect(checkPayloadRules(X.IKE_AUTH, false, [SK], [IDi, AUTH, SA, TSi, TSr])).toEqual({ ok: true });
    expect(checkPayloadRules(X.IKE_AUTH, false, [IDi, SK], [AUTH, SA, TSi, TSr])).toMatchObject({ ok: false });
    expect(checkPayloadRules(X.IKE_AUTH, false, [IDi, AUTH, SA, TSi, TSr], null)).toMatchObject({ ok: false });
    expect(checkPayloadRules(X.IKE_SA_INIT, false, [SA, KE, NONCE, SK], [])).toMatchObject({ ok: false });
  });

  it('accepts an IKE_AUTH response that is AUTHENTICATION_FAILED only, and one with IDr/AUTH and a child error', () => {
    expect(checkPayloadRules(X.IKE_AUTH, true, [SK], [N(NotifyType.AUTHENTICATION_FAILED)])).toEqual({ ok: true });
    expect(checkPayloadRules(X.IKE_AUTH, true, [SK], [IDr, AUTH, N(NotifyType.TS_UNACCEPTABLE)])).toEqual({ ok: true });
    expect(checkPayloadRules(X.IKE_AUTH, true, [SK], [IDi])).toMatchObject({ ok: false }); // IDi is the initiator's
  });

  it('CREATE_CHILD_SA: SA and Nonce are mandatory unless the response is an error', () => {
    expect(checkPayloadRules(X.CREATE_CHILD_SA, false, [SK], [SA, NONCE, KE, TSi, TSr])).toEqual({ ok: true });
    expect(checkPayloadRules(X.CREATE_CHILD_SA, false, [SK], [SA, TSi, TSr])).toMatchObject({ ok: false, notify: NotifyType.INVALID_SYNTAX });
    expect(checkPayloadRules(X.CREATE_CHILD_SA, true, [SK], [N(NotifyType.NO_ADDITIONAL_SAS)])).toEqual({ ok: true });
    expect(checkPayloadRules(X.CREATE_CHILD_SA, true, [SK], [NATD])).toMatchObject({ ok: false });
  });

  it('INFORMATIONAL: empty (liveness) and Delete are fine; SA is not', () => {
    expect(checkPayloadRules(X.INFORMATIONAL, false, [SK], [])).toEqual({ ok: true });
    expect(checkPayloadRules(X.INFORMATIONAL, true, [SK], [D, D])).toEqual({ ok: true });
    expect(checkPayloadRules(X.INFORMATIONAL, false, [SK], [SA])).toMatchObject({ ok: false });
  });

  it('an unknown exchange type is refused without a notify', () => {
    const r = checkPayloadRules(99, false, [], null);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.notify).toBeUndefined();
  });
});
