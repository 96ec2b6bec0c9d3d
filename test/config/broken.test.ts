// A table of broken peer.json files: each is refused before anything starts, with a line that
// names the field's JSON pointer and what was wanted there, and the PSK never shows up.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { ConfigError, parsePeerConfig } from '../../src/config/load.js';
import { makePki, type Pki } from '../ike/helpers/pki.js';
import { example, EXAMPLE_PSK, tempDir, type Json, type TempDir } from './fixtures.js';

interface Case {
  what: string;
  edit: (j: Json) => unknown;
  path: string;
  gist: RegExp;
}

const pubkeyBoth = (j: Json) => {
  delete j.psk;
  Object.assign(j.local, { auth: 'pubkey', cert: 'left.pem', key: 'left.key' });
  Object.assign(j.remote, { auth: 'pubkey', ca: 'ca.pem' });
};

const CASES: Case[] = [
  { what: 'no name', edit: (j) => delete j.name, path: '/name', gist: /^required$/ },
  { what: 'a name with a space', edit: (j) => (j.name = 'my tunnel'), path: '/name', gist: /letters, digits.*got "my tunnel"/ },
  { what: 'a name of 33 characters', edit: (j) => (j.name = 'x'.repeat(33)), path: '/name', gist: /1-32/ },
  { what: 'an unknown top-level field', edit: (j) => (j.proposals = []), path: '/proposals', gist: /unknown field \(expected one of name, local, remote, psk, ike, child/ },
  { what: 'a misspelt ike field', edit: (j) => (j.ike.rekeyy = '4h'), path: '/ike/rekeyy', gist: /^unknown field \(expected one of proposals, rekey, life, rand, reauth, dpd\)$/ },
  { what: 'a Child SA life not longer than its rekey', edit: (j) => ((j.child.rekey = '5m'), (j.child.life = '5m')), path: '/child/life', gist: /longer than child\.rekey \(300s\).*rekeyed before it expires, got 5m/ },
  { what: 'an IKE SA rand not shorter than its rekey', edit: (j) => ((j.ike.rekey = '1h'), (j.ike.rand = '2h')), path: '/ike/rand', gist: /shorter than ike\.rekey \(3600s\).*got 2h/ },
  { what: 'a life that is not a duration', edit: (j) => (j.ike.life = 'forever'), path: '/ike/life', gist: /duration such as 30s.*got "forever"/ },
  { what: 'a duration with a space', edit: (j) => (j.ike.rekey = '4 h'), path: '/ike/rekey', gist: /duration such as 30s, 5m, 4h or 1d, got "4 h"/ },
  { what: 'a duration as a number', edit: (j) => (j.child.rekey = 3600), path: '/child/rekey', gist: /duration.*got 3600/ },
  { what: 'no IKE proposals', edit: (j) => (j.ike.proposals = []), path: '/ike/proposals', gist: /at least 1 entry, got an empty list/ },
  { what: 'an unknown algorithm', edit: (j) => (j.ike.proposals = ['aes256gcm16-prfsha256-x2559']), path: '/ike/proposals/0', gist: /^"aes256gcm16-prfsha256-x2559" is not a proposal: unknown algorithm "x2559"$/ },
  { what: 'an ESP proposal among the IKE ones', edit: (j) => (j.ike.proposals = ['aes256gcm16']), path: '/ike/proposals/0', gist: /is not an IKE proposal: .*PRF.*it is an ESP proposal: those go in child\.proposals/ },
  { what: 'an IKE proposal among the ESP ones', edit: (j) => (j.child.proposals = ['aes256gcm16', 'aes256gcm16-prfsha256-x25519']), path: '/child/proposals/1', gist: /is not an ESP proposal: .*PRF.*it is an IKE proposal: those go in ike\.proposals/ },
  { what: 'AEAD with an integrity algorithm', edit: (j) => (j.child.proposals = ['aes256gcm16-sha256']), path: '/child/proposals/0', gist: /AEAD cipher takes no integrity algorithm/ },
  { what: 'vips on a responder', edit: (j) => ((j.local.vips = ['0.0.0.0']), (j.start = 'wait')), path: '/local/vips', gist: /only an initiator asks for a virtual IP: expected start "initiate", got "wait"/ },
  { what: 'a kill switch on a responder', edit: (j) => ((j.killSwitch = true), (j.start = 'wait')), path: '/killSwitch', gist: /only a client has a kill switch .*expected start "initiate", got "wait"/ },
  { what: 'allowLan without a kill switch', edit: (j) => (j.allowLan = true), path: '/allowLan', gist: /only used with "killSwitch": true/ },
  { what: 'a kill switch that is not a boolean', edit: (j) => (j.killSwitch = 'yes'), path: '/killSwitch', gist: /true or false|boolean/ },
  { what: 'dnsDomains without vips', edit: (j) => (j.dnsDomains = ['corp.example']), path: '/dnsDomains', gist: /needs local\.vips/ },
  { what: 'a DNS domain with a space', edit: (j) => ((j.local.vips = ['0.0.0.0']), (j.dnsDomains = ['corp example'])), path: '/dnsDomains/0', gist: /corp example/ },
  { what: 'a vips entry that is not a family', edit: (j) => (j.local.vips = ['10.3.0.1']), path: '/local/vips/0', gist: /"0\.0\.0\.0"|"::"/ },
  { what: 'an unknown auth method', edit: (j) => (j.local.auth = 'pks'), path: '/local/auth', gist: /one of "psk", "pubkey", "eap-mschapv2", got "pks"/ },
  { what: 'no remote id', edit: (j) => delete j.remote.id, path: '/remote/id', gist: /^required$/ },
  { what: 'an empty local id', edit: (j) => (j.local.id = ''), path: '/local/id', gist: /identity.*got an empty string/ },
  { what: '%any as the local id', edit: (j) => (j.local.id = '%any'), path: '/local/id', gist: /not an identity.*cannot be sent/ },
  { what: 'a host name as local address', edit: (j) => (j.local.addr = 'left.example'), path: '/local/addr', gist: /IPv4 or IPv6 address, got "left.example"/ },
  { what: '%any as local address', edit: (j) => (j.local.addr = '%any'), path: '/local/addr', gist: /IPv4 or IPv6 address/ },
  { what: 'the unspecified local address', edit: (j) => (j.local.addr = '0.0.0.0'), path: '/local/addr', gist: /not the unspecified address/ },
  { what: 'an IPv6 peer for an IPv4 local address', edit: (j) => (j.remote.addr = '2001:db8::2'), path: '/remote/addr', gist: /IPv4 address like local\.addr/ },
  { what: 'the peer address equal to the local one', edit: (j) => (j.remote.addr = '198.51.100.1'), path: '/remote/addr', gist: /local\.addr \(198\.51\.100\.1\) again/ },
  { what: 'reauth with a %any peer', edit: (j) => ((j.remote.addr = '%any'), (j.start = 'wait'), (j.ike.reauth = '1h')), path: '/ike/reauth', gist: /needs remote\.addr.*%any/ },
  { what: '%any peer with start initiate', edit: (j) => (j.remote.addr = '%any'), path: '/start', gist: /"wait" because remote\.addr is %any/ },
  { what: '%any peer with the default start', edit: (j) => { j.remote.addr = '%any'; delete j.start; }, path: '/start', gist: /"wait"/ },
  { what: 'a prefix length of 33', edit: (j) => (j.local.ts = ['203.0.113.0/33']), path: '/local/ts/0', gist: /"203\.0\.113\.0\/33" is not a traffic selector: .*prefix length/ },
  { what: 'a port above 65535', edit: (j) => (j.remote.ts = ['203.0.113.128/25[tcp/99999]']), path: '/remote/ts/0', gist: /not a valid port/ },
  { what: 'no local selectors', edit: (j) => (j.local.ts = []), path: '/local/ts', gist: /at least 1 entry/ },
  { what: 'IPv4 local selectors with IPv6 remote ones', edit: (j) => (j.remote.ts = ['2001:db8:2::/48']), path: '/remote/ts', gist: /IPv4 selector too/ },
  { what: 'no psk although both sides use psk', edit: (j) => delete j.psk, path: '/psk', gist: /required because local\.auth is "psk"/ },
  { what: 'a psk that is a number', edit: (j) => (j.psk = 123456789), path: '/psk', gist: /a string, \{"file": path\} or \{"env": variable name\}/ },
  { what: 'a psk with both file and env', edit: (j) => (j.psk = { file: 'a', env: 'B' }), path: '/psk', gist: /\{"file": path\} or \{"env"/ },
  { what: 'a psk env variable that is not set', edit: (j) => (j.psk = { env: 'TSVPN_PSK' }), path: '/psk/env', gist: /^environment variable TSVPN_PSK is not set$/ },
  { what: 'a psk file that does not exist', edit: (j) => (j.psk = { file: 'missing.psk' }), path: '/psk/file', gist: /cannot read .*missing\.psk: no such file/ },
  { what: 'a psk file that is empty', edit: (j) => (j.psk = { file: 'empty.psk' }), path: '/psk/file', gist: /empty\.psk is empty/ },
  { what: 'a psk 0x form with odd hex', edit: (j) => (j.psk = '0xabc'), path: '/psk', gist: /even number of hex digits/ },
  { what: 'a psk nobody uses', edit: (j) => { pubkeyBoth(j); j.psk = EXAMPLE_PSK; }, path: '/psk', gist: /not used/ },
  { what: 'pubkey without cert and key', edit: (j) => { pubkeyBoth(j); delete j.local.cert; }, path: '/local/cert', gist: /required because local\.auth is "pubkey"/ },
  { what: 'pubkey peer without a CA', edit: (j) => { pubkeyBoth(j); delete j.remote.ca; }, path: '/remote/ca', gist: /required because remote\.auth is "pubkey"/ },
  { what: 'a PSK peer with a local certificate', edit: (j) => { j.remote.auth = 'psk'; j.local.auth = 'pubkey'; j.local.cert = 'left.pem'; j.local.key = 'left.key'; }, path: '/remote/auth', gist: /needs local\.auth "psk" too/ },
  { what: 'a certificate with psk auth', edit: (j) => (j.local.cert = 'left.pem'), path: '/local/cert', gist: /only used when local\.auth is "pubkey"/ },
  { what: 'a key file that holds no key', edit: (j) => { pubkeyBoth(j); j.local.key = 'ca.pem'; }, path: '/local/key', gist: /holds no private key/ },
  { what: 'a certificate file that holds no certificate', edit: (j) => { pubkeyBoth(j); j.local.cert = 'left.key'; }, path: '/local/cert', gist: /holds no X\.509 certificate/ },
  { what: 'a key that belongs to another certificate', edit: (j) => { pubkeyBoth(j); j.local.key = 'other.key'; }, path: '/local/key', gist: /key of the first certificate.*belongs to another/ },
  { what: 'an identity the certificate does not name', edit: (j) => { pubkeyBoth(j); j.local.id = 'venus.example'; }, path: '/local/id', gist: /"venus\.example" is not named in the certificate .*DNS:left\.example/ },
  { what: 'an encrypted key', edit: (j) => { pubkeyBoth(j); j.local.key = 'encrypted.key'; }, path: '/local/key', gist: /is encrypted/ },
  { what: 'a CA list entry that is not a string', edit: (j) => { pubkeyBoth(j); j.remote.ca = ['ca.pem', 5]; }, path: '/remote/ca/1', gist: /file path, got 5/ },
  { what: 'a replay window not a multiple of 32', edit: (j) => (j.child.replayWindow = 100), path: '/child/replayWindow', gist: /multiple of 32.*got 100/ },
  { what: 'a misspelt mode', edit: (j) => (j.child.mode = 'tunel'), path: '/child/mode', gist: /one of "tunnel", "transport", got "tunel"/ },
  { what: 'transport mode with a subnet selector', edit: (j) => (j.child.mode = 'transport'), path: '/local/ts/0', gist: /198\.51\.100\.1 or "dynamic" in transport mode/ },
  { what: '"dynamic" for a %any peer', edit: (j) => { j.remote.addr = '%any'; j.start = 'wait'; j.remote.ts = ['dynamic']; }, path: '/remote/ts/0', gist: /literal remote\.addr/ },
  { what: 'a TUN MTU below 1280 for IPv6', edit: (j) => { j.local.ts = ['2001:db8:1::/48']; j.remote.ts = ['2001:db8:2::/48']; j.tun = { mtu: 1200 }; }, path: '/tun/mtu', gist: /at least 1280.*RFC 8200/ },
  { what: 'a TUN name of 16 bytes', edit: (j) => (j.tun = { name: 'tsvpn-abcdefghij' }), path: '/tun/name', gist: /Linux interface name/ },
  { what: 'a port of 70000', edit: (j) => (j.local.port = 70000), path: '/local/port', gist: /UDP port \(1-65535\), got 70000/ },
  { what: 'negative retransmit tries', edit: (j) => (j.retransmit = { tries: -1 }), path: '/retransmit/tries', gist: /between 0 and 20, got -1/ },
  { what: 'mssClamp as a string', edit: (j) => (j.mssClamp = 'yes'), path: '/mssClamp', gist: /true or false, got "yes"/ },
  { what: 'an unknown encap', edit: (j) => (j.encap = 'esp'), path: '/encap', gist: /one of "auto", "udp"/ },
  { what: 'keepalive without a unit', edit: (j) => (j.keepalive = '20'), path: '/keepalive', gist: /duration/ },
  { what: 'mobike as a string', edit: (j) => (j.mobike = 'yes'), path: '/mobike', gist: /true or false, got "yes"/ },
  { what: 'an unknown dpdAction', edit: (j) => (j.dpdAction = 'restrat'), path: '/dpdAction', gist: /one of "restart", "clear", "hold"/ },
];

let tmp: TempDir;
let pki: Pki;
beforeAll(() => {
  tmp = tempDir();
  pki = makePki();
  const pem = (der: Uint8Array) => new X509Certificate(der).toString();
  const ca = pki.ca('ca');
  const left = pki.leaf('ca', 'ecdsa', 'left.example');
  const other = pki.leaf('ca', 'ecdsa', 'other.example');
  tmp.write('ca.pem', pem(ca));
  tmp.write('left.pem', pem(left.cert));
  tmp.write('left.key', left.key.export({ format: 'pem', type: 'pkcs8' }) as string);
  tmp.write('other.key', other.key.export({ format: 'pem', type: 'pkcs8' }) as string);
  tmp.write('encrypted.key', left.key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string);
  tmp.write('empty.psk', '\n');
});
afterAll(() => {
  tmp.remove();
  pki.cleanup();
});

function refuse(j: Json): ConfigError {
  try {
    parsePeerConfig(j, tmp.dir, {});
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('accepted a broken peer.json');
}

describe('broken peer.json files are refused with the field path and what was wanted', () => {
  it(`the table has at least 25 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(25));
  it('the unbroken example is accepted (so each case fails for its own edit)', () => {
    expect(parsePeerConfig(example(), tmp.dir, {}).name).toBe('left');
    const j = example();
    pubkeyBoth(j);
    expect(parsePeerConfig(j, tmp.dir, {}).local.auth.method).toBe('pubkey');
  });
  for (const c of CASES) {
    it(c.what, () => {
      const j = example();
      c.edit(j);
      const e = refuse(j);
      const hit = e.problems.find((p) => p.path === c.path);
      expect(hit, `problems: ${e.message}`).toBeDefined();
      expect(hit!.expected).toMatch(c.gist);
      // the message is one line per problem, each starting with its path
      expect(e.message.split('\n')).toContain(`${c.path}: ${hit!.expected}`);
      expect(e.message).not.toContain(EXAMPLE_PSK);
      expect(e.message).not.toContain('123456789');
    });
  }
});

describe('reporting', () => {
  it('reports every shape problem at once', () => {
    const j = example();
    j.name = 'bad name';
    j.ike.rekeyy = '4h';
    delete j.remote.id;
    const e = refuse(j);
    expect(e.problems.map((p) => p.path).sort()).toEqual(['/ike/rekeyy', '/name', '/remote/id']);
    expect(e.message.split('\n')).toHaveLength(3);
  });

  it('reports every semantic problem at once', () => {
    const j = example();
    j.local.addr = 'nowhere';
    j.ike.proposals = ['aes256gcm16-prfsha256-x2559'];
    j.psk = { env: 'TSVPN_PSK' };
    const e = refuse(j);
    expect(e.problems.map((p) => p.path)).toEqual(expect.arrayContaining(['/local/addr', '/ike/proposals/0', '/psk/env']));
  });

  it('a top level that is not an object', () => {
    expect(refuse([]).message).toMatch(/^\(top level\): expected a JSON object describing one tunnel, got an empty list$/);
  });

  it('never echoes a PSK-like value, even when it is malformed', () => {
    for (const psk of ['0xsecretsecret', '0s!!secret!!', { env: 'secret-value' }]) {
      const j = example();
      j.psk = psk;
      const e = refuse(j);
      expect(e.message).not.toMatch(/secret/);
    }
  });
});
