// Target: a responder IKE SA fed encrypted requests whose plaintext is the fuzzer's payload
// chain, after a real IKE_SA_INIT, so the tasks (src/ike/tasks) process it, not just the
// decoder. Input: [mode][first payload type][inner payload chain...]; mode selects
//   0: IKE_AUTH (Message ID 1) to a responder that has just answered IKE_SA_INIT;
//   1: CREATE_CHILD_SA and 2: INFORMATIONAL to an established responder, next Message ID.
// The initiator side is ours (test/ike/helpers/pair.ts configs); its SK_ei/SK_ai seal the
// requests (fuzz/targets/sealed-request.ts, the key exchange pinned). A finding: an exception out of handleDatagram
// (it must never throw), or `internalErrors` moving (an untyped exception inside it).
import { IkeSa } from '../../src/ike/ike-sa.js';
import type { SaKeys } from '../../src/ike/sa-context.js';
import type { IkeSaConfig } from '../../src/ike/config.js';
import { ExchangeType } from '../../src/wire/constants.js';
import { decodeMessage, encodePayloads } from '../../src/wire/message.js';
import { config, I_ADDR, R_ADDR } from '../../test/ike/helpers/pair.js';
import { invariant, type FuzzTarget } from '../target.js';
import { ikeDictionary } from './ike-dictionary.js';
import { payloadLists } from './ike-payloads.js';
import { answered, keysOf, pinnedKe, sealedRequest, sends } from './sealed-request.js';

export const MODES = [ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL] as const;
const PATH = { from: I_ADDR, to: R_ADDR };
/** Rebuild the established pair after this many requests so that state (Child SAs) stays small. */
const REBUILD_EVERY = 500;

function side(id: string, remoteId: string, seed: number, initiator: boolean): IkeSaConfig {
  const [mine, theirs] = initiator ? ['10.1.0.0/16', '10.2.0.0/16'] : ['10.2.0.0/16', '10.1.0.0/16'];
  const cfg = config({ id, remoteId, seed, localTs: [mine], remoteTs: [theirs], esp: ['aes256gcm16', 'aes128-sha256'], ike: ['aes256gcm16-prfsha256-x25519'] }, initiator ? I_ADDR : R_ADDR, initiator ? R_ADDR : I_ADDR);
  cfg.keyExchange = pinnedKe;
  return cfg;
}

interface Live { i: IkeSa; r: IkeSa; keys: SaKeys; nextId: number; used: number }

/**
 * IKE_SA_INIT between a fresh initiator and responder; with `auth`, IKE_AUTH too. The same
 * seeds every time: the SPIs and nonces repeat, so an IKE_AUTH chain of the corpus made by
 * this initiator (authChainInput) carries an AUTH that verifies, and mutations of its other
 * payloads (SA, TS, notifies) get past authentication to the Child SA code.
 */
function open(auth: boolean): Live & { authReq: Uint8Array } {
  const i = IkeSa.initiator(side('left.example', 'right.example', 1, true));
  const r = IkeSa.responder([side('right.example', 'left.example', 5001, false)], PATH);
  const [initReq] = sends(i.initiate(0));
  const [initResp] = sends(r.handleDatagram(0, initReq, PATH));
  const [authReq] = sends(i.handleDatagram(0, initResp, { from: R_ADDR, to: I_ADDR }));
  if (auth) {
    const [authResp] = sends(r.handleDatagram(0, authReq, PATH));
    i.handleDatagram(0, authResp, { from: R_ADDR, to: I_ADDR });
    invariant(r.state === 'ESTABLISHED', `setup: responder ${r.state} after IKE_AUTH (${r.lastDropped ?? ''})`);
  }
  const keys = keysOf(i);
  invariant(keys !== undefined, 'setup: the initiator has no keys after IKE_SA_INIT');
  return { i, r, keys: keys!, nextId: auth ? 2 : 1, used: 0, authReq };
}

/** This target's own initiator's IKE_AUTH request, opened: a corpus input whose AUTH verifies. */
export function authChainInput(): Uint8Array {
  const l = open(false);
  const msg = decodeMessage(l.authReq);
  const sk = msg.payloads[0];
  invariant(sk?.kind === 'SK', 'IKE_AUTH without SK');
  if (sk.kind !== 'SK') return new Uint8Array(0);
  const plain = keysOf(l.r)!.in.open(sk.aad, sk.body);
  l.i.dispose();
  l.r.dispose();
  return Uint8Array.from([MODES.indexOf(ExchangeType.IKE_AUTH), sk.firstInner, ...plain]);
}

let established: Live | undefined;

export const ikeSa: FuzzTarget = {
  name: 'ike-sa',
  dictionary: ikeDictionary,
  maxLength: 2000,
  generate: (seed, count) =>
    payloadLists(seed, count).map((list, i) => {
      const { firstType, bytes } = encodePayloads(list);
      return Uint8Array.from([i % MODES.length, firstType, ...bytes]);
    }),
  run(data) {
    if (data.length < 2) return;
    const exchange = MODES[data[0] % MODES.length];
    const l = exchange === ExchangeType.IKE_AUTH ? open(false) : (established ??= open(true));
    const before = l.r.stats.internalErrors;
    const out = l.r.handleDatagram(1, sealedRequest(l.i, l.keys, exchange, l.nextId, data[1], data.subarray(2)), PATH); // never throws, by contract
    // RFC 7296 §2.2: a request that was answered uses up its Message ID; a dropped one does not
    if (answered(out)) l.nextId++;
    invariant(l.r.stats.internalErrors === before, `internal error in the responder: ${l.r.lastDropped}`);
    if (l !== established) {
      l.i.dispose();
      l.r.dispose();
      return;
    }
    if (++l.used >= REBUILD_EVERY || l.r.state !== 'ESTABLISHED') {
      l.i.dispose();
      l.r.dispose();
      established = undefined;
    }
  },
};
