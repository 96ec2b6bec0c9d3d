// peer.json -> PeerConfig: the example and each documented variant resolve to what an
// operator wrote (selectors checked against a test-side CIDR helper, proposals against the
// proposal parser the IKE layer itself uses, durations in seconds, defaults as documented).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import { loadPeerFile, parseDuration, parsePeerConfig, ConfigError } from '../../src/config/load.js';
import { parseProposal } from '../../src/crypto/proposal.js';
import { DEFAULT_RETRANSMIT } from '../../src/ike/config.js';
import { cidr } from '../ike/helpers/pair.js';
import { makePki, type Pki } from '../ike/helpers/pki.js';
import { example, EXAMPLE_PSK, tempDir, type Json, type TempDir } from './fixtures.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const bytesOf = (u: Uint8Array) => [...u];
let tmp: TempDir;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.remove());

function load(j: Json, env: NodeJS.ProcessEnv = {}) {
  return parsePeerConfig(j, tmp.dir, env);
}

describe("the issue's example", () => {
  it('parses to the PeerConfig it describes, with documented defaults', () => {
    const p = load(example());
    expect(p.name).toBe('left');
    expect(p.local).toMatchObject({ addr: '198.51.100.1', port: 500, id: 'left.example', tsText: ['203.0.113.0/25'] });
    expect(p.remote).toMatchObject({ addr: '198.51.100.2', port: 500, id: 'right.example', tsText: ['203.0.113.128/25'] });
    expect(p.local.ts).toEqual([cidr('203.0.113.0/25')]);
    expect(p.remote.ts).toEqual([cidr('203.0.113.128/25')]);
    expect(p.local.auth.method).toBe('psk');
    expect(p.local.auth.method === 'psk' && bytesOf(p.local.auth.psk)).toEqual(bytesOf(utf8(EXAMPLE_PSK)));
    expect(p.remote.auth).toEqual({ method: 'psk' });
    expect(p.ike.proposals).toEqual([parseProposal('aes256gcm16-prfsha256-x25519', 'ike')]);
    expect(p.ike.proposalText).toEqual(['aes256gcm16-prfsha256-x25519']);
    expect(p.ike.rekeyS).toBe(4 * 3600);
    expect(p.ike.dpdS).toBe(30);
    expect(p.child).toMatchObject({ name: 'left', mode: 'tunnel', rekeyS: 3600, replayWindow: 1024 });
    expect(p.child.proposals).toEqual([parseProposal('aes256gcm16', 'esp')]);
    expect(p).toMatchObject({ start: 'initiate', tun: { name: 'tsvpn-left' }, encap: 'auto', mssClamp: false, keepaliveS: 20, dpdAction: 'restart', mobike: true });
    expect(p.tun.mtu).toBeUndefined();
    expect(p.retransmit).toEqual(DEFAULT_RETRANSMIT);
  });

  it('examples/left.json and examples/right.json mirror each other (lab hosts of src/io/netns.ts)', () => {
    const l = loadPeerFile('examples/left.json');
    const r = loadPeerFile('examples/right.json');
    expect(l.local.addr).toBe('198.51.100.1');
    expect(r.local.addr).toBe('198.51.100.2');
    expect(l.local.addr).toBe(r.remote.addr);
    expect(l.remote.addr).toBe(r.local.addr);
    expect(l.local.tsText).toEqual(r.remote.tsText);
    expect(l.remote.tsText).toEqual(r.local.tsText);
    expect(l.local.id).toBe(r.remote.id);
    expect(l.remote.id).toBe(r.local.id);
    expect(l.start).toBe('initiate');
    expect(r.start).toBe('wait');
  });

  it('never shows the PSK when a PeerConfig is printed or serialised', () => {
    const p = load(example());
    for (const text of [inspect(p, { depth: 10 }), JSON.stringify(p), String(p.local.auth.method === 'psk' && p.local.auth.psk)]) {
      expect(text).not.toContain(EXAMPLE_PSK);
      expect(text).not.toContain(bytesOf(utf8(EXAMPLE_PSK)).join(','));
      expect(text).toMatch(/redacted 21-byte PSK/);
    }
  });
});

describe('documented variants', () => {
  it('psk from a file (one trailing newline ignored), relative to the peer file', () => {
    tmp.write('left.psk', `${EXAMPLE_PSK}\n`);
    const file = tmp.write('left.json', JSON.stringify({ ...example(), psk: { file: 'left.psk' } }));
    const p = loadPeerFile(file);
    expect(p.local.auth.method === 'psk' && bytesOf(p.local.auth.psk)).toEqual(bytesOf(utf8(EXAMPLE_PSK)));
  });

  it('psk from an environment variable, and the 0x / 0s raw-byte forms of swanctl', () => {
    const env = { TSVPN_PSK: EXAMPLE_PSK };
    const a = load({ ...example(), psk: { env: 'TSVPN_PSK' } }, env);
    expect(a.local.auth.method === 'psk' && bytesOf(a.local.auth.psk)).toEqual(bytesOf(utf8(EXAMPLE_PSK)));
    const b = load({ ...example(), psk: '0x00ff10' });
    expect(b.local.auth.method === 'psk' && bytesOf(b.local.auth.psk)).toEqual([0, 255, 16]);
    const c = load({ ...example(), psk: '0sAP8Q' });
    expect(c.local.auth.method === 'psk' && bytesOf(c.local.auth.psk)).toEqual([0, 255, 16]);
  });

  it('%any responder: start wait, any identity', () => {
    const p = loadPeerFile('examples/responder-any.json', { TSVPN_PSK: 'from-the-environment' });
    expect(p.remote.addr).toBe('%any');
    expect(p.remote.id).toBe('%any');
    expect(p.start).toBe('wait');
    expect(p.ike.proposalText).toEqual(['aes256gcm16-prfsha256-x25519', 'aes256-sha256-prfsha256-modp2048']);
    expect(p.ike.proposals.map((x) => x.number)).toEqual([1, 2]); // RFC 7296 §3.3.1: numbered from 1
    expect(p.child.replayWindow).toBe(2048);
    expect(p.dpdAction).toBe('clear');
  });

  it('selectors with [proto/port], ranges and several prefixes', () => {
    const j = example();
    j.local.ts = ['203.0.113.0/25', '192.0.2.10-192.0.2.20'];
    j.remote.ts = ['203.0.113.128/25[tcp/443]', '192.0.2.200[udp/1024-2048]'];
    const p = load(j);
    expect(p.remote.ts[0]).toEqual({ ...cidr('203.0.113.128/25'), ipProtocol: 6, startPort: 443, endPort: 443 });
    expect(p.remote.ts[1]).toEqual({ ...cidr('192.0.2.200/32'), ipProtocol: 17, startPort: 1024, endPort: 2048 });
    expect(p.local.ts[1].startAddr).toEqual(Uint8Array.from([192, 0, 2, 10]));
    expect(p.local.ts[1].endAddr).toEqual(Uint8Array.from([192, 0, 2, 20]));
    expect(p.remote.tsText).toEqual(['203.0.113.128/25[tcp/443]', '192.0.2.200[udp/1024-2048]']);
  });

  it('IPv6 outer and inner addresses, canonical text', () => {
    const j = example();
    j.local.addr = '2001:DB8:0:0::1';
    j.remote.addr = '2001:db8::2';
    j.local.ts = ['2001:db8:1::/48'];
    j.remote.ts = ['2001:db8:2::/48'];
    const p = load(j);
    expect(p.local.addr).toBe('2001:db8::1');
    expect(p.local.tsText).toEqual(['2001:db8:1::/48']);
  });

  it('transport mode with "dynamic" selectors (the hosts\' own addresses)', () => {
    const j = example();
    j.child.mode = 'transport';
    j.local.ts = ['dynamic'];
    j.remote.ts = ['dynamic[tcp/443]'];
    const p = load(j);
    expect(p.child.mode).toBe('transport');
    expect(p.local.tsText).toEqual(['198.51.100.1']);
    expect(p.remote.tsText).toEqual(['198.51.100.2[tcp/443]']);
  });

  it('a client asking for virtual IPs: "dynamic" is any address of each family asked for (the gateway narrows it to the lease)', () => {
    const j = example();
    j.local.vips = ['0.0.0.0', '::'];
    j.local.ts = ['dynamic'];
    j.remote.ts = ['203.0.113.128/25', '2001:db8:2::/48'];
    const p = load(j);
    expect(p.local.vips).toEqual([4, 6]);
    expect(p.local.tsText).toEqual(['0.0.0.0/0', '::/0']);
    j.local.vips = ['0.0.0.0'];
    j.remote.ts = ['203.0.113.128/25'];
    expect(load(j).local.tsText).toEqual(['0.0.0.0/0']);
  });

  it('tun, encap, mssClamp, keepalive, dpdAction, mobike, retransmit, ports, child name and durations', () => {
    const j = {
      ...example(),
      tun: { name: 'vpn0', mtu: 1400 },
      encap: 'udp',
      mssClamp: true,
      keepalive: '15s',
      dpdAction: 'hold',
      mobike: false,
      retransmit: { timeout: 2, base: 1.5, tries: 3 },
    };
    j.local.port = 4500;
    j.remote.port = 4501;
    j.ike.dpd = '2m';
    j.ike.rekey = '1d';
    j.child.rekey = '45m';
    j.child.life = '50m';
    j.child.rand = '1m';
    j.ike.life = '25h';
    j.ike.reauth = '12h';
    j.child.name = 'net';
    j.child.replayWindow = 64;
    const p = load(j);
    expect(p.tun).toEqual({ name: 'vpn0', mtu: 1400 });
    expect(p).toMatchObject({ encap: 'udp', mssClamp: true, keepaliveS: 15, dpdAction: 'hold', mobike: false, retransmit: { timeout: 2, base: 1.5, tries: 3 } });
    expect(p.local.port).toBe(4500);
    expect(p.remote.port).toBe(4501);
    expect(p.ike).toMatchObject({ dpdS: 120, rekeyS: 86400, lifeS: 90000, reauthS: 43200 });
    expect(p.ike.randS).toBeUndefined(); // swanctl's default (life - rekey) applies in src/ike/lifetimes.ts
    expect(p.child).toMatchObject({ name: 'net', rekeyS: 2700, lifeS: 3000, randS: 60, replayWindow: 64 });
  });

  it('the default TUN name is tsvpn-<name> cut to 15 bytes (Linux IFNAMSIZ)', () => {
    const p = load({ ...example(), name: 'a-very-long-tunnel-name' });
    expect(p.tun.name).toBe('tsvpn-a-very-lo');
    expect(Buffer.byteLength(p.tun.name)).toBeLessThanOrEqual(15);
  });
});

describe('certificates (pubkey)', () => {
  let pki: Pki;
  let caDer: Uint8Array;
  const pem = (der: Uint8Array) => new X509Certificate(der).toString();
  beforeAll(() => {
    pki = makePki();
    caDer = pki.ca('ca');
    const leaf = pki.leaf('ca', 'ecdsa', 'left.example');
    tmp.write('ca.pem', pem(caDer));
    tmp.write('left.key', leaf.key.export({ format: 'pem', type: 'pkcs8' }) as string);
    tmp.write('left-chain.pem', pem(leaf.cert) + pem(caDer)); // a chain, leaf first
  });
  afterAll(() => pki?.cleanup());

  it('reads key, chain (leaf first) and CA into the auth records', () => {
    const j = example();
    delete j.psk;
    Object.assign(j.local, { auth: 'pubkey', cert: 'left-chain.pem', key: 'left.key' });
    Object.assign(j.remote, { auth: 'pubkey', ca: 'ca.pem' });
    const p = load(j);
    expect(p.local.auth.method).toBe('pubkey');
    if (p.local.auth.method !== 'pubkey' || p.remote.auth.method !== 'pubkey') return;
    expect(p.local.auth.key.asymmetricKeyType).toBe('ec');
    expect(p.local.auth.certChain).toHaveLength(2);
    expect(new X509Certificate(p.local.auth.certChain[0]).subjectAltName).toBe('DNS:left.example');
    expect(p.local.auth.certChain[1]).toEqual(caDer);
    expect(p.remote.auth.trustAnchors).toEqual([caDer]);
  });

  it('examples/pubkey.json names its certificate files relative to itself', () => {
    expect(() => loadPeerFile('examples/pubkey.json')).toThrow(/\/local\/key: cannot read .*examples\/certs\/left\.key/);
  });
});

describe('parseDuration', () => {
  const good: [string, number][] = [['0s', 0], ['30s', 30], ['5m', 300], ['4h', 14400], ['1d', 86400], ['90m', 5400], ['3600s', 3600]];
  for (const [text, seconds] of good) it(`${text} = ${seconds} s`, () => expect(parseDuration(text)).toBe(seconds));
  for (const text of ['', '30', 's', '1.5h', '-5m', '4 h', '4H', '1w', 'h4', '99999999999999999999d']) {
    it(`refuses ${JSON.stringify(text)}`, () => expect(() => parseDuration(text)).toThrow(ConfigError));
  }
});

describe('reading the file', () => {
  it('a missing file', () => {
    expect(() => loadPeerFile(`${tmp.dir}/nope.json`)).toThrow(/nope\.json: no such file/);
  });
  it('a UTF-8 byte order mark before the JSON is ignored', () => {
    const file = tmp.write('bom.json', `\uFEFF${JSON.stringify(example())}`);
    expect(loadPeerFile(file).name).toBe('left');
  });
  it('broken JSON names the line and column', () => {
    const file = tmp.write('broken.json', '{\n  "name": "left",\n  "local": {,\n}');
    expect(() => loadPeerFile(file)).toThrow(/not valid JSON.*line 3 column 13/);
  });
});
