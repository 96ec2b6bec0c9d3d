// Writes the seed corpus (npx tsx fuzz/seed-corpus.ts; the files are committed, run it again
// only to refresh them):
//   ike-message: the strongSwan datagrams of test/fixtures/strongswan, and every datagram of
//                one tsvpn pair's life (IKE_SA_INIT, IKE_AUTH, Child SA rekey, liveness, Delete);
//   ike-sa:      the decrypted payload chains of those requests, strongSwan's IKE_AUTH included,
//                as [mode][first payload type][chain] (fuzz/targets/ike-sa.ts);
//   ike-eap:     the EAP client's genuine request of each IKE_AUTH round (fuzz/targets/ike-eap.ts);
//   esp-inbound: a valid packet per mode;
//   cert-parsers: an ECDSA CA and RSA, ECDSA and Ed25519 leaves made by openssl, and DN DER;
//   peer-config: examples/*.json, one with the PSK marker.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSkCipher } from '../src/crypto/sk.js';
import { negotiatedAlgorithms, parseProposal } from '../src/crypto/proposal.js';
import { decodeMessage, decodePayloads, encodePayloads } from '../src/wire/message.js';
import { ExchangeType } from '../src/wire/constants.js';
import { dnFromText } from '../src/ike/auth/dn.js';
import { Pair, I_ADDR, R_ADDR, sends } from '../test/ike/helpers/pair.js';
import type { Effect } from '../src/ike/effects.js';
import { makePki } from '../test/ike/helpers/pki.js';
import { CORPUS_DIR } from './targets.js';
import { MODES, authChainInput } from './targets/ike-sa.js';
import { genuineRounds } from './targets/ike-eap.js';
import { SECRET_MARKER } from './targets/peer-config.js';

const root = join(import.meta.dirname, '..');
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/** Replaces the seeds of `target`; inputs a campaign found (finding-*) stay. */
function write(target: string, files: [string, Uint8Array | string][]): void {
  const dir = join(CORPUS_DIR, target);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (!f.startsWith('finding-')) rmSync(join(dir, f));
  for (const [name, data] of files) writeFileSync(join(dir, name), data);
  console.log(`${target}: ${files.length} files`);
}

/** [mode][first type][chain] for an IKE request's decrypted payloads. */
function saInput(exchange: number, firstType: number, chain: Uint8Array): Uint8Array {
  const mode = MODES.indexOf(exchange as (typeof MODES)[number]);
  return Uint8Array.from([mode, firstType, ...chain]);
}

const messages: [string, Uint8Array][] = [];
const chains: [string, Uint8Array][] = [];

// strongSwan 5.9.8 captures: its IKE_AUTH request opened with the logged SK_ei / SK_ai
const fxDir = join(root, 'test', 'fixtures', 'strongswan');
for (const file of readdirSync(fxDir).filter((f) => f.endsWith('.json'))) {
  const fx = JSON.parse(readFileSync(join(fxDir, file), 'utf8'));
  const base = file.replace(/\.json$/, '');
  fx.messages.forEach((m: { from: string; exchange: string; hex: string }, i: number) => messages.push([`strongswan-${base}-${i}-${m.exchange}-${m.from}.bin`, hex(m.hex)]));
  const alg = negotiatedAlgorithms(parseProposal(fx.ikeProposal, 'ike'));
  const cipher = createSkCipher(alg.encr, alg.integ, hex(fx.keys.skEi), fx.keys.skAi ? hex(fx.keys.skAi) : new Uint8Array(0));
  const authReq = decodeMessage(hex(fx.messages[2].hex));
  const sk = authReq.payloads[0];
  if (sk.kind !== 'SK') throw new Error(`${file}: IKE_AUTH request without SK`);
  const plain = cipher.open(sk.aad, sk.body);
  decodePayloads(sk.firstInner, plain); // it must decode
  chains.push([`strongswan-${base}-ike-auth.bin`, saInput(ExchangeType.IKE_AUTH, sk.firstInner, plain)]);
}

// one tsvpn pair: establish, rekey the Child SA, liveness, delete; record the initiator's requests
const p = new Pair({ id: 'left.example', remoteId: 'right.example', seed: 1 }, { id: 'right.example', remoteId: 'left.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 2 });
const responderKeys = () => (p.responder as unknown as { ctx: { keys: { in: ReturnType<typeof createSkCipher> } } }).ctx.keys.in;
let n = 0;
/** Records the initiator's requests among `fx` (opened with the responder's keys, before it may drop them). */
function record(fx: Effect[]): Effect[] {
  for (const e of fx) {
    if (e.type !== 'send') continue;
    const msg = decodeMessage(e.bytes);
    const ex = msg.header.exchangeType;
    const name = `tsvpn-${String(n++).padStart(2, '0')}-${Object.entries(ExchangeType).find(([, v]) => v === ex)?.[0]}`;
    messages.push([`${name}-request.bin`, e.bytes]);
    const sk = msg.payloads[0];
    if (sk?.kind === 'SK' && p.responder) {
      const { firstType, bytes } = encodePayloads(decodePayloads(sk.firstInner, responderKeys().open(sk.aad, sk.body)));
      chains.push([`${name}.bin`, saInput(ex, firstType, bytes)]);
    }
  }
  return fx;
}
const first = p.initiator.initiate(p.now);
record(first);
const rIn = p.dispatcher.handleDatagram(p.now, sends(first)[0], { from: I_ADDR, to: R_ADDR });
const authReq = record(p.initiator.handleDatagram(p.now, sends(rIn)[0], { from: R_ADDR, to: I_ADDR }));
p.run(authReq);
p.run(record(p.initiator.rekeyChild(p.now, p.initiator.children[0].spiIn)));
p.run(record(p.initiator.liveness(p.now)));
p.run(record(p.initiator.delete(p.now)));
messages.push(['tsvpn-init-response.bin', sends(rIn)[0]]);
n = 0;
for (const e of p.rEffects) if (e.type === 'send') messages.push([`tsvpn-${String(n++).padStart(2, '0')}-response.bin`, e.bytes]);
chains.push(['tsvpn-ike-auth-verifies.bin', authChainInput()]);
write('ike-message', messages);
write('ike-sa', chains);
write('ike-eap', genuineRounds().map((input, round) => [`genuine-round-${round}.bin`, input]));

// ESP: mode 2 inputs are [SA][plaintext]; mode 0/1 with an all-zero mask is the valid packet
const esp: [string, Uint8Array][] = [
  ['flip-none.bin', Uint8Array.of(1, 0)],
  ['garbage-gcm-spi.bin', Uint8Array.of(0, 0x10, 0, 0, 1, 0, 0, 0, 1, ...new Uint8Array(40))],
  ['sealed-gcm-ipv4-udp.bin', Uint8Array.of(2, 0, ...hex('4500002400000000401100000c000201cb7100010' + '3e807d0001000000000000000000000000000000000000000010204'))],
  ['sealed-cbc-transport.bin', Uint8Array.of(2, 1, ...hex('03e807d000100000' + '0000000000000000' + '0102030406' + '11'))],
];
write('esp-inbound', esp);

// certificates from openssl (test/ike/helpers/pki.ts), and DNs
const pki = makePki();
try {
  const ca = pki.ca('fuzz-ca');
  write('cert-parsers', [
    ['ca.der', ca],
    ['leaf-ecdsa.der', pki.leaf('fuzz-ca', 'ecdsa', 'left.example').cert],
    ['leaf-rsa.der', pki.leaf('fuzz-ca', 'rsa', 'right.example').cert],
    ['leaf-ed25519.der', pki.leaf('fuzz-ca', 'ed25519', 'ed.example').cert],
    ['dn.der', dnFromText('C=CH, O=strongSwan, CN=left')],
    ['id-fqdn.bin', Uint8Array.from([2, ...Buffer.from('left.example')])],
    ['id-text-dn.txt', 'asn1dn:C=CH, O=strongSwan, CN=left'],
    ['id-text-keyid.txt', '@#0123456789abcdef'],
  ]);
} finally {
  pki.cleanup();
}

const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.json'));
const configs: [string, string][] = examples.map((f) => [f, readFileSync(join(root, 'examples', f), 'utf8')]);
configs.push(['left-marker-psk.json', configs.find(([f]) => f === 'left.json')![1].replace(/"psk": "[^"]*"/, `"psk": "${SECRET_MARKER}"`)]);
configs.push(['left-unquoted-psk.json', configs.find(([f]) => f === 'left.json')![1].replace(/"psk": "[^"]*"/, `"psk": ${SECRET_MARKER}`)]);
write('peer-config', configs);
