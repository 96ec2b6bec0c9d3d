// Target: the peer.json loader (src/config): the JSON syntax reporter (json-syntax.ts) and
// the schema, resolution and cross-checks behind parsePeerConfig. Checks besides "only
// ConfigError": findJsonFault finds a fault exactly when JSON.parse refuses the text (the two
// must agree), and the syntax excerpt never shows what follows a "psk" or "secret" key on its
// line. The seeds carry SECRET_MARKER as the PSK so that mutations put it where the reporter
// must mask it.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findJsonFault } from '../../src/config/json-syntax.js';
import { parseJsonFile, parsePeerConfig } from '../../src/config/load.js';
import fc from 'fast-check';
import { invariant, isTypedError, utf8, type FuzzTarget } from '../target.js';

export const SECRET_MARKER = 'FUZZSECRETPSK';
// no file of the input's {file} references is there: relative paths resolve to nothing
const baseDir = join(tmpdir(), 'tsvpn-fuzz-no-such-dir');
const decoder = new TextDecoder();

// peer.json documents with the schema's keys (schema/peer.schema.json), each value usually
// plausible and sometimes any JSON value
const odd = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 30, arbitrary: a as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
/** mostly the first value (valid), sometimes the others (odd or wrong), rarely any string */
const pick = (good: unknown, ...others: unknown[]) =>
  fc.oneof({ weight: 40, arbitrary: fc.constant(good) }, { weight: 4, arbitrary: fc.constantFrom(good, ...others) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) as fc.Arbitrary<unknown> });
const addr = (local: boolean) => pick(local ? '198.51.100.1' : '198.51.100.2', '%any', 'fe80::1', '2001:db8::1', '0.0.0.0', '300.1.1.1', 'host.example');
const ts = fc.array(pick('10.1.0.0/16', '203.0.113.0/25', '0.0.0.0/0', '::/0', '10.0.0.0/8', '2001:db8::/32', '10.0.0.1/33', '10.1.2.3'), { minLength: 1, maxLength: 3 });
const duration = pick('4h', '1h', '30s', '0s', '1d', '90m', '10m');
const some = { requiredKeys: [] as [] };
const side = (local: boolean) =>
  fc.record(
    { addr: odd(addr(local)), port: odd(pick(500, 4500, 0, 65536)), id: odd(pick(local ? 'left.example' : 'right.example', '@#0102', 'C=CH, CN=x', '%any', 'ipv4:1.2.3', '')), auth: odd(pick('psk', 'pubkey')), ts: odd(ts),
      ...((local ? { cert: odd(pick('/nonexistent/left.pem', 'left.pem')), key: odd(pick('/nonexistent/left.key')) } : { ca: odd(pick('/nonexistent/ca.pem', ['a.pem', 'b.pem'])) }) as Record<string, fc.Arbitrary<unknown>>) },
    { requiredKeys: ['addr', 'id', 'auth', 'ts'] },
  );
const proposals = (kind: 'ike' | 'esp') =>
  fc.array(kind === 'ike' ? pick('aes256gcm16-prfsha256-x25519', 'aes128-sha256-modp2048', 'chacha20poly1305-prfsha512-ecp256', 'aes256-sha1-modp1024', 'des-md5') : pick('aes256gcm16', 'aes128-sha256', 'aes256gcm16-esn', 'null'), { minLength: 1, maxLength: 3 });
const peerDocument = fc.record(
  {
    name: odd(pick('left', 'right', 'a-very-long-tunnel-name', '-x')),
    local: odd(side(true)), remote: odd(side(false)),
    psk: odd(pick(SECRET_MARKER, 'short', { file: 'psk.txt' }, { env: 'PSK' }, { secret: 'x' })),
    ike: odd(fc.record({ proposals: odd(proposals('ike')), rekey: duration, life: duration, dpd: duration, reauth: duration }, { requiredKeys: ['proposals'] })),
    child: odd(fc.record({ name: pick('net', 'lan'), proposals: odd(proposals('esp')), mode: pick('tunnel', 'transport'), rekey: duration, life: duration, replayWindow: pick(1024, 0, 64, 4096, 3) }, { requiredKeys: ['proposals'] })),
    start: odd(pick('initiate', 'wait')), encap: odd(pick('auto', 'udp')), mssClamp: fc.boolean(), keepalive: duration,
    dpdAction: odd(pick('restart', 'clear', 'hold')), retransmit: odd(fc.record({ timeout: pick(4, 1, 0.5, 0), base: pick(1.8, 2, 0.5), tries: pick(5, 3, 0, 100) }, some)),
    tun: odd(fc.record({ name: pick('tsvpn0', 'wg-left'), mtu: pick(1400, 1280, 576, 9000) }, some)),
  },
  { requiredKeys: ['name', 'local', 'remote', 'ike', 'child'] },
);

export const peerConfig: FuzzTarget = {
  name: 'peer-config',
  maxLength: 4096,
  dictionary: [
    ...['name', 'local', 'remote', 'addr', 'port', 'id', 'auth', 'ts', 'psk', 'cert', 'key', 'ca', 'ike', 'child', 'proposals', 'rekey', 'life', 'rand',
      'dpd', 'reauth', 'mode', 'replayWindow', 'start', 'encap', 'mssClamp', 'keepalive', 'dpdAction', 'retransmit', 'timeout', 'base', 'tries', 'tun', 'mtu', 'file', 'env', 'secret']
      .map((k) => utf8(`"${k}": `)),
    ...['"psk"', '"pubkey"', '"tunnel"', '"transport"', '"initiate"', '"wait"', '"auto"', '"udp"', '"restart"', '"clear"', '"hold"', '"%any"', '"0.0.0.0/0"', '"::/0"',
      '"aes256gcm16-prfsha256-x25519"', '"aes128-sha256-modp2048"', '"aes256gcm16"', '"4h"', '"30s"', '"0s"', '"1d"', '"fe80::1"', '"10.0.0.1"', `"${SECRET_MARKER}"`,
      'true', 'false', 'null', '{', '}', '[', ']', ',', ':', '"', '\\u0000', '\\"', '1e309', '-0', '65536', '9007199254740993', '\uFEFF', '\n'].map(utf8),
  ],
  generate: (seed, count) => fc.sample(peerDocument, { seed, numRuns: count }).map((d, i) => utf8(JSON.stringify(d, null, i % 3))),
  run(data) {
    const text = decoder.decode(data);
    let parsed = true;
    try {
      JSON.parse(text);
    } catch {
      parsed = false;
    }
    const fault = findJsonFault(text);
    invariant((fault === undefined) === parsed, `findJsonFault and JSON.parse disagree (JSON.parse ${parsed ? 'accepts' : 'refuses'})`);
    // the excerpt never shows what follows a "psk" or "secret" key on its line (issue 13 hole 4)
    const shown = fault?.excerpt.split('\n')[0] ?? '';
    const at = shown.indexOf(SECRET_MARKER);
    invariant(at < 0 || !/"(?:psk|secret)"/.test(shown.slice(0, at)), 'the syntax excerpt shows a value written after a "psk"/"secret" key');
    try {
      parsePeerConfig(parseJsonFile(text, 'peer.json'), baseDir, {});
    } catch (e) {
      if (!isTypedError(e)) throw e;
    }
  },
};
