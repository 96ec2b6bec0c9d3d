// Target: the peer.json loader (src/config): the JSON syntax reporter (json-syntax.ts) and
// the schema, resolution and cross-checks behind parsePeerConfig. Checks besides "only
// ConfigError": findJsonFault finds a fault exactly when JSON.parse refuses the text (the two
// must agree). The seeds carry SECRET_MARKER as the PSK so that mutations put it where the
// syntax reporter must mask it; whether it does is not checked here yet (fuzz/README.md,
// open findings: the excerpt quotes a PSK after a missing colon).
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findJsonFault } from '../../src/config/json-syntax.js';
import { parseJsonFile, parsePeerConfig } from '../../src/config/load.js';
import { invariant, isTypedError, utf8, type FuzzTarget } from '../target.js';

export const SECRET_MARKER = 'FUZZSECRETPSK';
// no file of the input's {file} references is there: relative paths resolve to nothing
const baseDir = join(tmpdir(), 'tsvpn-fuzz-no-such-dir');
const decoder = new TextDecoder();

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
  run(data) {
    const text = decoder.decode(data);
    let parsed = true;
    try {
      JSON.parse(text);
    } catch {
      parsed = false;
    }
    invariant((findJsonFault(text) === undefined) === parsed, `findJsonFault and JSON.parse disagree (JSON.parse ${parsed ? 'accepts' : 'refuses'})`);
    try {
      parsePeerConfig(parseJsonFile(text, 'peer.json'), baseDir, {});
    } catch (e) {
      if (!isTypedError(e)) throw e;
    }
  },
};
