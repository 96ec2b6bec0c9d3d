// Target: a gateway that authenticates its clients with EAP-MSCHAPv2 in IKE_AUTH (RFC 7296
// §2.16), driven through the EAP rounds. Input: [round][first payload type][payload chain...].
// A real client (our initiator, EAP user alice) takes the gateway through `round` genuine
// IKE_AUTH exchanges, then the fuzzer's chain, sealed with the client's SK_ei/SK_ai, is the
// next request:
//   round 0: the first IKE_AUTH (a client that leaves out AUTH asks for EAP);
//   round 1: the answer to the gateway's EAP-Identity request;
//   round 2: the answer to its MSCHAPv2 Challenge (RFC 2759 §4);
//   round 3: the answer to its MSCHAPv2 Success request;
//   round 4: the last IKE_AUTH, the AUTH keyed with the MSK (RFC 7296 §2.16).
// A finding: an exception out of handleDatagram, `internalErrors` moving, or the gateway
// establishing an IKE SA for anyone but alice (only her password is known to the client; the
// gateway also has bob). The gateway's certificate comes from openssl once per process.
import { IkeSa } from '../../src/ike/ike-sa.js';
import type { IkeSaConfig, LocalAuth, RemoteAuth } from '../../src/ike/config.js';
import type { SaKeys } from '../../src/ike/sa-context.js';
import { ExchangeType } from '../../src/wire/constants.js';
import { decodeMessage, decodePayloads, encodePayloads } from '../../src/wire/message.js';
import { config, I_ADDR, R_ADDR } from '../../test/ike/helpers/pair.js';
import { makePki } from '../../test/ike/helpers/pki.js';
import { invariant, utf8, type FuzzTarget } from '../target.js';
import { ikeDictionary } from './ike-dictionary.js';
import { keysOf, pinnedKe, sealedRequest, sends } from './sealed-request.js';

export const ROUNDS = 5;
const PATH = { from: I_ADDR, to: R_ADDR };
const BACK = { from: R_ADDR, to: I_ADDR };
const USER = 'alice';

let auth: { gateway: LocalAuth; trust: RemoteAuth } | undefined;
function pki(): NonNullable<typeof auth> {
  if (auth) return auth;
  const p = makePki();
  try {
    const ca = p.ca('ca');
    const gw = p.leaf('ca', 'ecdsa', 'gw.example');
    auth = { gateway: { method: 'pubkey', key: gw.key, certChain: [gw.cert] }, trust: { method: 'pubkey', trustAnchors: [ca] } };
  } finally {
    p.cleanup();
  }
  return auth;
}

function sides(): { client: IkeSaConfig; gateway: IkeSaConfig } {
  const a = pki();
  const users = new Map([[USER, utf8('alice-Secret-1')], ['bob', utf8('bob-Secret-2')]]);
  const client = config({ id: '198.51.100.1', remoteId: 'gw.example', localTs: ['10.3.0.0/24'], remoteTs: ['10.2.0.0/16'], seed: 1, localAuth: { method: 'eap-mschapv2', eapId: USER, password: utf8('alice-Secret-1') }, remoteAuth: a.trust }, I_ADDR, R_ADDR);
  const gateway = config({ id: 'gw.example', remoteId: '%any', localTs: ['10.2.0.0/16'], remoteTs: ['10.3.0.0/24'], seed: 2, localAuth: a.gateway, remoteAuth: { method: 'eap-mschapv2', users } }, R_ADDR, I_ADDR);
  client.keyExchange = pinnedKe;
  gateway.keyExchange = pinnedKe;
  return { client, gateway };
}

/** A client and a gateway after IKE_SA_INIT and `rounds` genuine IKE_AUTH exchanges; `next` is the client's next request. */
/** A fresh client and gateway after IKE_SA_INIT; `authReq` is the client's first IKE_AUTH request. */
function afterInit(): { i: IkeSa; r: IkeSa; authReq: Uint8Array | undefined } {
  const { client, gateway } = sides();
  const i = IkeSa.initiator(client);
  const r = IkeSa.responder([gateway], PATH);
  const [initReq] = sends(i.initiate(0));
  const [initResp] = sends(r.handleDatagram(0, initReq, PATH));
  const [authReq] = sends(i.handleDatagram(0, initResp, BACK));
  return { i, r, authReq };
}

function advance(rounds: number): { i: IkeSa; r: IkeSa; next: Uint8Array | undefined } {
  const { i, r, authReq } = afterInit();
  let req = authReq;
  for (let k = 0; k < rounds && req; k++) {
    const [resp] = sends(r.handleDatagram(0, req, PATH));
    invariant(resp !== undefined, `setup: the gateway did not answer IKE_AUTH round ${k} (${r.lastDropped ?? ''})`);
    [req] = sends(i.handleDatagram(0, resp, BACK));
  }
  return { i, r, next: req };
}

/** The client's genuine request of each round, opened: [round][first payload type][chain], the seed corpus. */
export function genuineRounds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { i, r, next } = advance(round);
    invariant(next !== undefined, `setup: no client request in round ${round}`);
    const sk = decodeMessage(next!).payloads[0];
    invariant(sk?.kind === 'SK', `round ${round}: a request without SK`);
    if (sk?.kind === 'SK') {
      const { firstType, bytes } = encodePayloads(decodePayloads(sk.firstInner, keysOf(r)!.in.open(sk.aad, sk.body)));
      out.push(Uint8Array.from([round, firstType, ...bytes]));
    }
    i.dispose();
    r.dispose();
  }
  return out;
}

/**
 * The gateway after `rounds` genuine rounds, fast: every random source is seeded, so each fresh
 * pair gets the same nonces and the gateway the same MSCHAPv2 challenge, and the client's
 * genuine requests (worked out once by a real client, genuineRounds) are replayed to the gateway
 * without running the client's side (its certificate check is most of a round's cost).
 */
let genuine: Uint8Array[] | undefined;
function replayed(rounds: number): { i: IkeSa; r: IkeSa; keys: SaKeys } {
  genuine ??= genuineRounds();
  const { i, r } = afterInit();
  const keys = keysOf(i);
  invariant(keys !== undefined, 'setup: the client has no keys after IKE_SA_INIT');
  for (let k = 0; k < rounds; k++) {
    const g = genuine[k];
    // RFC 7296 §2.2: the IKE_AUTH exchanges are Message IDs 1, 2, ...
    const answer = sends(r.handleDatagram(0, sealedRequest(i, keys!, ExchangeType.IKE_AUTH, k + 1, g[1], g.subarray(2)), PATH));
    invariant(answer.length === 1, `setup: the gateway did not answer genuine round ${k} (${r.lastDropped ?? ''})`);
  }
  return { i, r, keys: keys! };
}

export const ikeEap: FuzzTarget = {
  name: 'ike-eap',
  dictionary: ikeDictionary,
  maxLength: 2000,
  run(data) {
    if (data.length < 2) return;
    const round = data[0] % ROUNDS;
    const { i, r, keys } = replayed(round);
    try {
      const before = r.stats.internalErrors;
      r.handleDatagram(1, sealedRequest(i, keys, ExchangeType.IKE_AUTH, round + 1, data[1], data.subarray(2)), PATH); // never throws, by contract
      invariant(r.stats.internalErrors === before, `internal error in the gateway: ${r.lastDropped}`);
      invariant(r.state !== 'ESTABLISHED' || r.remoteId === USER, `the gateway established an IKE SA for ${r.remoteId} (round ${round})`);
      invariant(r.state !== 'ESTABLISHED' || round === ROUNDS - 1, `the gateway established in round ${round}, before the MSK-keyed AUTH`);
    } finally {
      i.dispose();
      r.dispose();
    }
  },
};
