// The two ends of EAP-Identity + EAP-MSCHAPv2 (RFC 3748 §5.1, RFC 2759,
// draft-kamath-pppext-eap-mschapv2-02) as I/O-free state machines over EAP packets: the
// authenticator (a gateway, users from its secrets) and the peer (a client with a user name and
// password). Each takes the other's packet and says what to send next, or how it ended: the MSK
// (RFC 7296 §2.16 keys the AUTH payloads with it) or a failure detail that never holds a password.
import { timingSafeEqual } from 'node:crypto';
import { zero } from '../../crypto/bytes.js';
import { authenticatorResponse, authenticatorResponseText, msChapV2Msk, ntPasswordHash, ntResponse, type MsChapV2Input } from '../../crypto/mschapv2.js';
import { decodeEap, decodeMsChapV2, EAP_TYPE_NAMES, EapCode, EapType, encodeEap, encodeMsChapV2, MSCHAPV2_CHALLENGE_SIZE, MsChapV2Op, type EapPacket } from '../../wire/eap.js';
import type { EapUsers } from '../config.js';

export type EapStep =
  /** `rejected`: the authenticator's Failure packet, sent before the end (the peer may answer it or give up) */
  | { kind: 'send'; packet: Uint8Array; rejected?: { detail: string; user: string } }
  | { kind: 'success'; packet?: Uint8Array; msk: Uint8Array; user: string }
  | { kind: 'failure'; packet?: Uint8Array; detail: string; user?: string };

// RFC 2759 §6: the failure code for a wrong user name or password (ERROR_AUTHENTICATION_FAILURE)
export const MSCHAPV2_AUTH_FAILURE = 691;
// Implementation choice: the message text of our Success packet (RFC 2759 §5 "M=<msg>")
const SUCCESS_MESSAGE = 'Welcome to tsvpn';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
// Implementation choice: how much of a user name an unauthenticated peer sent goes into a message
const SHOWN_NAME_MAX = 64;
/** A user name as messages show it: any peer can send one, so no control characters (log lines) and not too long. */
const shown = (name: string): string => JSON.stringify(name.length > SHOWN_NAME_MAX ? `${name.slice(0, SHOWN_NAME_MAX)}…` : name).slice(1, -1);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** RFC 2759 §4: the user name in the challenge hash is the Name without a "DOMAIN\" prefix. */
const withoutDomain = (name: Uint8Array): Uint8Array => {
  const at = name.lastIndexOf(0x5c);
  return at < 0 ? name : name.subarray(at + 1);
};

function equalSecret(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The authenticator: Request/Identity, then an MS-CHAPv2 Challenge, Success or Failure, then EAP-Success or Failure. */
export class MsChapV2Server {
  private id: number;
  private state: 'identity' | 'challenge' | 'success-sent' | 'failure-sent' | 'done' = 'identity';
  private user = '';
  private challenge: Uint8Array = new Uint8Array(0);
  private msk: Uint8Array | undefined;
  private failed = '';

  constructor(
    private readonly users: EapUsers,
    private readonly random: (n: number) => Uint8Array,
    private readonly serverName: string,
  ) {
    this.id = random(1)[0];
  }

  /** The first request (RFC 3748 §5.1: Request/Identity, no prompt). */
  start(): Uint8Array {
    return encodeEap({ code: EapCode.REQUEST, id: this.id, type: EapType.IDENTITY, data: new Uint8Array(0) });
  }

  receive(bytes: Uint8Array): EapStep {
    let p: EapPacket;
    try {
      p = decodeEap(bytes);
    } catch (e) {
      return this.fail(`malformed EAP response (${e instanceof Error ? e.message : String(e)})`);
    }
    // RFC 3748 §4.1: a Response's Identifier matches the Request's
    if (p.code !== EapCode.RESPONSE || p.id !== this.id) return this.fail(`expected an EAP Response with identifier ${this.id}, got code ${p.code} identifier ${p.id}`);
    if (p.type === EapType.NAK) return this.fail(`the peer refused EAP-MSCHAPv2 (Nak${p.data.length ? `, wants type ${[...p.data].map((t) => EAP_TYPE_NAMES[t] ?? t).join(', ')}` : ''})`);
    if (this.state === 'identity') {
      if (p.type !== EapType.IDENTITY) return this.fail(`expected an EAP-Identity response, got type ${p.type}`);
      this.user = text(p.data);
      return this.sendChallenge();
    }
    if (p.type !== EapType.MSCHAPV2) return this.fail(`expected EAP-MSCHAPv2, got type ${EAP_TYPE_NAMES[p.type] ?? p.type}`);
    let m;
    try {
      m = decodeMsChapV2(p.data);
    } catch (e) {
      return this.fail(`malformed EAP-MSCHAPv2 response (${e instanceof Error ? e.message : String(e)})`);
    }
    if (this.state === 'challenge' && m.op === MsChapV2Op.RESPONSE) return this.check(m.peerChallenge, m.ntResponse, m.name);
    if (this.state === 'success-sent' && m.op === MsChapV2Op.SUCCESS) {
      this.state = 'done';
      const msk = this.msk!;
      this.msk = undefined;
      return { kind: 'success', packet: this.final(EapCode.SUCCESS), msk, user: this.user };
    }
    if (this.state === 'failure-sent') return this.fail(this.failed); // the peer's acknowledgement of our Failure
    return this.fail(`unexpected EAP-MSCHAPv2 OpCode ${m.op} in state ${this.state}`);
  }

  /** Zero what an unfinished exchange holds. */
  dispose(): void {
    if (this.msk) zero(this.msk);
    this.msk = undefined;
  }

  private sendChallenge(): EapStep {
    this.state = 'challenge';
    this.challenge = this.random(MSCHAPV2_CHALLENGE_SIZE);
    this.id = (this.id + 1) & 0xff;
    const data = encodeMsChapV2({ op: MsChapV2Op.CHALLENGE, msId: this.id, challenge: this.challenge, name: utf8(this.serverName) });
    return { kind: 'send', packet: encodeEap({ code: EapCode.REQUEST, id: this.id, type: EapType.MSCHAPV2, data }) };
  }

  private check(peerChallenge: Uint8Array, ntResp: Uint8Array, name: Uint8Array): EapStep {
    const password = this.users.get(this.user);
    if (!password) return this.reject(`user ${shown(this.user)}: unknown user`);
    const input: MsChapV2Input = { authChallenge: this.challenge, peerChallenge, userName: withoutDomain(name), passwordHash: ntPasswordHash(password) };
    const expected = ntResponse(input);
    try {
      if (!equalSecret(expected, ntResp)) return this.reject(`user ${shown(this.user)}: wrong password`);
      this.msk = msChapV2Msk(input.passwordHash, ntResp);
      const s = authenticatorResponse(input, ntResp);
      const message = `${authenticatorResponseText(s)} M=${SUCCESS_MESSAGE}`;
      zero(s);
      this.state = 'success-sent';
      const msId = this.id; // draft-kamath §2: Success and Failure carry the Response's MS-CHAPv2-ID
      this.id = (this.id + 1) & 0xff;
      const data = encodeMsChapV2({ op: MsChapV2Op.SUCCESS, msId, message });
      return { kind: 'send', packet: encodeEap({ code: EapCode.REQUEST, id: this.id, type: EapType.MSCHAPV2, data }) };
    } finally {
      zero(expected, input.passwordHash);
    }
  }

  /** RFC 2759 §6: a Failure packet, E=691, no retry; EAP-Failure follows the peer's acknowledgement. */
  private reject(detail: string): EapStep {
    this.failed = detail;
    this.state = 'failure-sent';
    const msId = this.id;
    this.id = (this.id + 1) & 0xff;
    const message = `E=${MSCHAPV2_AUTH_FAILURE} R=0 C=${'0'.repeat(32)} V=3 M=Authentication failed`;
    const data = encodeMsChapV2({ op: MsChapV2Op.FAILURE, msId, message });
    return { kind: 'send', packet: encodeEap({ code: EapCode.REQUEST, id: this.id, type: EapType.MSCHAPV2, data }), rejected: { detail, user: shown(this.user) } };
  }

  private fail(detail: string): EapStep {
    this.state = 'done';
    this.dispose();
    return { kind: 'failure', packet: this.final(EapCode.FAILURE), detail, ...(this.user ? { user: shown(this.user) } : {}) };
  }

  private final(code: typeof EapCode.SUCCESS | typeof EapCode.FAILURE): Uint8Array {
    return encodeEap({ code, id: this.id });
  }
}

/** The peer: answers Identity with its user name, a Challenge with its NT-Response, checks the authenticator's "S=". */
export class MsChapV2Peer {
  private expectedS: Uint8Array | undefined;
  private msk: Uint8Array | undefined;
  private verified = false;
  private failure: string | undefined;

  constructor(
    private readonly eapId: string,
    private readonly password: Uint8Array,
    private readonly random: (n: number) => Uint8Array,
  ) {}

  receive(bytes: Uint8Array): EapStep {
    let p: EapPacket;
    try {
      p = decodeEap(bytes);
    } catch (e) {
      return this.fail(`malformed EAP request from the gateway (${e instanceof Error ? e.message : String(e)})`);
    }
    if (p.code === EapCode.SUCCESS) {
      if (!this.verified || !this.msk) return this.fail('the gateway sent EAP-Success before proving it knows our password (no MS-CHAPv2 Success)');
      const msk = this.msk;
      this.msk = undefined;
      return { kind: 'success', msk, user: this.eapId };
    }
    if (p.code === EapCode.FAILURE) return this.fail(this.failure ?? 'EAP-Failure from the gateway');
    if (p.code !== EapCode.REQUEST) return this.fail(`unexpected EAP code ${p.code} from the gateway`);
    const respond = (type: number, data: Uint8Array): EapStep => ({ kind: 'send', packet: encodeEap({ code: EapCode.RESPONSE, id: p.id, type, data }) });
    if (p.type === EapType.IDENTITY) return respond(EapType.IDENTITY, utf8(this.eapId));
    // RFC 3748 §5.3.1: a method we do not do is answered with a Nak naming the one we want
    if (p.type !== EapType.MSCHAPV2) return respond(EapType.NAK, Uint8Array.of(EapType.MSCHAPV2));
    let m;
    try {
      m = decodeMsChapV2(p.data);
    } catch (e) {
      return this.fail(`malformed EAP-MSCHAPv2 request from the gateway (${e instanceof Error ? e.message : String(e)})`);
    }
    if (m.op === MsChapV2Op.CHALLENGE) {
      const input: MsChapV2Input = { authChallenge: m.challenge, peerChallenge: this.random(16), userName: utf8(this.eapId), passwordHash: ntPasswordHash(this.password) };
      const nt = ntResponse(input);
      this.expectedS = authenticatorResponse(input, nt);
      this.msk = msChapV2Msk(input.passwordHash, nt);
      zero(input.passwordHash);
      return respond(EapType.MSCHAPV2, encodeMsChapV2({ op: MsChapV2Op.RESPONSE, msId: m.msId, peerChallenge: input.peerChallenge, ntResponse: nt, flags: 0, name: utf8(this.eapId) }));
    }
    if (m.op === MsChapV2Op.SUCCESS && 'message' in m) {
      // RFC 2759 §5: "S=<auth_string> M=<message>"; the gateway proves it knows the password
      const s = /^S=([0-9A-Fa-f]{40})/.exec(m.message);
      if (!s || !this.expectedS || !equalSecret(Uint8Array.from(Buffer.from(s[1], 'hex')), this.expectedS)) return this.fail('EAP-MSCHAPv2: the gateway\'s authenticator response does not match (it does not know our password)');
      this.verified = true;
      return respond(EapType.MSCHAPV2, encodeMsChapV2({ op: MsChapV2Op.SUCCESS, ack: true }));
    }
    if (m.op === MsChapV2Op.FAILURE && 'message' in m) {
      // RFC 2759 §6: "E=eeeeeeeeee R=r C=cccc V=vvvvvvvvvv M=<msg>"; the text names no secret
      const e = /E=(\d+)/.exec(m.message);
      this.failure = `EAP-MSCHAPv2 failure E=${e ? e[1] : '?'} from the gateway${e?.[1] === String(MSCHAPV2_AUTH_FAILURE) ? ' (wrong user name or password)' : ''}`;
      this.dispose();
      return respond(EapType.MSCHAPV2, encodeMsChapV2({ op: MsChapV2Op.FAILURE, ack: true }));
    }
    return this.fail(`unexpected EAP-MSCHAPv2 OpCode ${m.op} from the gateway`);
  }

  dispose(): void {
    if (this.msk) zero(this.msk);
    if (this.expectedS) zero(this.expectedS);
    this.msk = undefined;
    this.expectedS = undefined;
  }

  private fail(detail: string): EapStep {
    this.dispose();
    return { kind: 'failure', detail, user: this.eapId };
  }
}
