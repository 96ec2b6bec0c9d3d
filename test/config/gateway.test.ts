// A gateway file (connections, pools, secrets, one tun) -> GatewayConfig: examples/hub.json
// loads as the hub it describes, a peer.json loads as a gateway of one exactly as before, and
// every bad input of issue 11 is refused in one report that names the paths of both parts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError, loadPeerFile, parsePeerConfig } from '../../src/config/load.js';
import { loadConfigFile, parseConfig } from '../../src/config/gateway.js';
import { peerSchema } from '../../src/config/schema.js';
import ajv2020 from 'ajv/dist/2020.js';
import { cidr } from '../ike/helpers/pair.js';
import { example, EXAMPLE_PSK, tempDir, type Json, type TempDir } from './fixtures.js';

const HUB_ENV = { TSVPN_BRANCH_PSK: 'branch-secret-0123', TSVPN_ROAD_PSK: 'road-secret-4567' };
const text = (u: Uint8Array) => new TextDecoder().decode(u);
const hub = (): Json => JSON.parse(readFileSync('examples/hub.json', 'utf8'));

let tmp: TempDir;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.remove());

function refuse(j: Json, env: NodeJS.ProcessEnv = HUB_ENV): ConfigError {
  try {
    parseConfig(j, tmp.dir, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('accepted a broken gateway file');
}

/** The one problem at `path`, which must exist; its message must name `other` (the second part's path). */
function problemAt(e: ConfigError, path: string, other: string): string {
  const hit = e.problems.filter((p) => p.path === path);
  expect(hit, e.message).toHaveLength(1);
  expect(hit[0].expected).toContain(other);
  expect(e.message.split('\n')).toContain(`${path}: ${hit[0].expected}`);
  return hit[0].expected;
}

describe('examples/hub.json', () => {
  it('loads as a hub with two branches by address and a %any road peer by id, all on one TUN', () => {
    const g = loadConfigFile('examples/hub.json', HUB_ENV);
    expect(g.name).toBe('hub');
    expect(g.connections.map((c) => c.name)).toEqual(['branch1', 'branch2', 'road']);
    for (const c of g.connections) {
      expect(c.tun).toEqual({ name: 'tsvpn-hub', mtu: 1400 });
      expect(c.local).toMatchObject({ addr: '198.51.100.10', port: 500, id: 'hub.example' });
      expect(c.local.ts).toEqual([cidr('10.0.0.0/16')]);
      expect(c.start).toBe('wait');
      expect(c.child.name).toBe(c.name);
    }
    const [b1, b2, road] = g.connections;
    expect(b1.remote).toMatchObject({ addr: '198.51.100.21', id: 'branch1.example', tsText: ['10.1.0.0/16'] });
    expect(b2.remote).toMatchObject({ addr: '198.51.100.22', id: 'branch2.example', tsText: ['10.2.0.0/16'] });
    expect(road.remote).toMatchObject({ addr: '%any', id: 'road.example', tsText: ['10.99.0.0/24'] });
    expect(road.dpdAction).toBe('clear');
    expect(road.pools).toEqual(['road']);
    expect(b1.pools).toBeUndefined();
    expect(g.pools).toEqual({ road: { addrs: '10.99.0.0/24', range: cidr('10.99.0.0/24'), dns: ['10.0.0.53'], subnets: [] } });
  });

  it('each connection gets the PSK of the secret it names, as its own copy', () => {
    const [b1, b2, road] = loadConfigFile('examples/hub.json', HUB_ENV).connections;
    const psk = (c: typeof b1) => (c.local.auth.method === 'psk' ? c.local.auth.psk : new Uint8Array());
    expect(text(psk(b1))).toBe(HUB_ENV.TSVPN_BRANCH_PSK);
    expect(text(psk(b2))).toBe(HUB_ENV.TSVPN_BRANCH_PSK);
    expect(text(psk(road))).toBe(HUB_ENV.TSVPN_ROAD_PSK);
    psk(b1).fill(0); // one connection going away zeroes its key, not its neighbour's
    expect(text(psk(b2))).toBe(HUB_ENV.TSVPN_BRANCH_PSK);
    expect(inspect(road, { depth: 10 })).not.toContain(HUB_ENV.TSVPN_ROAD_PSK);
  });

  it('without name, the gateway is named after the file; the TUN after the gateway', () => {
    const j = hub();
    delete j.name;
    delete j.tun;
    const g = loadConfigFile(tmp.write('branch-office.json', JSON.stringify(j)), HUB_ENV);
    expect(g.name).toBe('branch-office');
    expect(g.connections[0].tun).toEqual({ name: 'tsvpn-branch-of' });
  });

  it('a file name that is not a name: the problem says to add "name"', () => {
    const j = hub();
    delete j.name;
    const e = (() => {
      try {
        loadConfigFile(tmp.write('my hub.json', JSON.stringify(j)), HUB_ENV);
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(e.problems).toEqual([{ path: '/name', expected: expect.stringMatching(/file name "my hub" is not a name.*add "name"/) }]);
  });

  it('every example file loads as a gateway (the certificate examples need examples/make-certs.sh first)', () => {
    const files = readdirSync('examples').filter((f) => f.endsWith('.json'));
    expect(files).toContain('hub.json');
    for (const f of files) {
      const env = { ...HUB_ENV, TSVPN_PSK: 'from-the-environment' };
      try {
        expect(loadConfigFile(`examples/${f}`, env).connections.length, f).toBeGreaterThan(0);
      } catch (e) {
        expect(f).toMatch(/^pubkey/);
        for (const p of (e as ConfigError).problems) expect(p.expected, f).toMatch(/cannot read .*examples\/certs\//);
      }
    }
  });
});

describe('a peer.json is a gateway with one connection, loaded as before', () => {
  it('the same PeerConfig as loadPeerFile, under the same name, no pools', () => {
    for (const f of ['left', 'right']) {
      const { warnings, ...g } = loadConfigFile(`examples/${f}.json`);
      expect(g).toEqual({ name: f, connections: [loadPeerFile(`examples/${f}.json`)], pools: {} });
      // a checkout is world-readable, and the examples hold their PSK inline: said, not refused (src/config/file-safety.ts)
      for (const w of warnings ?? []) expect(w.expected).toContain('holds a PSK or password and is readable by');
    }
  });

  it('a broken peer.json gives the same problems as parsePeerConfig', () => {
    const j = example();
    j.ike.rekeyy = '4h';
    j.local.addr = 'nowhere';
    let want: ConfigError | undefined;
    try {
      parsePeerConfig(j, tmp.dir, {});
    } catch (e) {
      want = e as ConfigError;
    }
    expect(refuse(j, {}).problems).toEqual(want!.problems);
  });

  it('a peer.json cannot name a secret: it has none', () => {
    const e = refuse({ ...example(), psk: { secret: 'branches' } });
    expect(e.problems).toEqual([{ path: '/psk/secret', expected: expect.stringMatching(/peer file has no secrets.*docs\/gateway\.md/) }]);
  });
});

/** A second connection like hub's branch1, edited. */
function withConn(name: string, edit: (c: Json) => void, base = 'branch1'): Json {
  const j = hub();
  const c = structuredClone(j.connections[base]);
  edit(c);
  j.connections[name] = c;
  return j;
}

describe('bad input of issue 11 names the paths of both parts', () => {
  it('a connection naming a pool that /pools does not define', () => {
    const j = hub();
    j.connections.road.pools = ['road', 'roda'];
    const m = problemAt(refuse(j), '/connections/road/pools/1', '/pools');
    expect(m).toMatch(/names pool "roda".*it has road/);
  });

  it('a connection naming a secret that /secrets does not hold (the name is not echoed: it may be a key)', () => {
    const j = hub();
    j.connections.branch2.psk = { secret: 'hunter2-typed-here' };
    const m = problemAt(refuse(j), '/connections/branch2/psk/secret', '/secrets');
    expect(m).toMatch(/it has branches, road/);
    expect(refuse(j).message).not.toContain('hunter2');
  });

  it('two %any connections on one address with the same remote id can never be told apart', () => {
    const j = withConn('road2', (c) => (c.remote.ts = ['10.98.0.0/24']), 'road');
    j.connections.road2.remote.id = 'ROAD.example'; // FQDNs compare without case
    const m = problemAt(refuse(j), '/connections/road2/remote/id', '/connections/road');
    expect(m).toMatch(/local\.addr 198\.51\.100\.10, remote\.addr %any and remote\.id ROAD\.example.*distinct remote\.id or remote\.addr/);
  });

  it('both remote ids %any, the same peer address: ambiguous too', () => {
    const j = withConn('branch1b', (c) => (c.remote.ts = ['10.11.0.0/16']));
    j.connections.branch1.remote.id = '%any';
    j.connections.branch1b.remote.id = '%any';
    problemAt(refuse(j), '/connections/branch1b/remote/id', '/connections/branch1');
  });

  it('told apart by remote id, or by an exact address against %any: accepted', () => {
    const byId = withConn('road2', (c) => ((c.remote.id = 'road2.example'), (c.remote.ts = ['10.98.0.0/24']), delete c.pools), 'road');
    expect(parseConfig(byId, tmp.dir, HUB_ENV).connections).toHaveLength(4);
    const byAddr = withConn('any', (c) => ((c.remote.addr = '%any'), (c.start = 'wait'), (c.remote.ts = ['10.97.0.0/24'])));
    expect(parseConfig(byAddr, tmp.dir, HUB_ENV).connections).toHaveLength(4);
  });

  it('a pool outside the connection\'s remote.ts, or inside its local.ts, is refused at the connection\'s pools entry', () => {
    const outside = withConn('road2', (c) => ((c.remote.id = 'road2.example'), (c.remote.ts = ['10.98.0.0/24'])), 'road');
    problemAt(refuse(outside), '/connections/road2/pools/0', 'pool "road" (10.99.0.0/24) is not inside remote.ts (10.98.0.0/24)');
    const ours = hub();
    ours.connections.road.local.ts = ['10.0.0.0/16', '10.99.0.128/25'];
    problemAt(refuse(ours), '/connections/road/pools/0', 'overlaps local.ts 10.99.0.128/25');
  });

  it('a pool announces subnets inside local.ts; a range, or a network local.ts does not cover, is refused at its path', () => {
    const ok = hub();
    ok.pools.road.subnets = ['10.0.1.0/24', '10.0.0.0/16'];
    expect(parseConfig(ok, tmp.dir, HUB_ENV).pools.road!.subnets).toEqual(['10.0.1.0/24', '10.0.0.0/16']);
    const range = hub();
    range.pools.road.subnets = ['10.0.1.0-10.0.1.9'];
    problemAt(refuse(range), '/pools/road/subnets/0', 'expected a network such as 10.0.0.0/24');
    const outside = hub();
    outside.pools.road.subnets = ['10.0.1.0/24', '192.0.2.0/24'];
    problemAt(refuse(outside), '/connections/road/pools/0', 'pool "road" announces 192.0.2.0/24, which local.ts (10.0.0.0/16) does not cover');
  });

  it('examples/road-warrior.json is a client of the hub\'s road connection: a virtual IP, whatever the hub protects, kill switch with the LAN, a DNS domain', () => {
    const c = loadConfigFile('examples/road-warrior.json', HUB_ENV).connections[0]!;
    const gw = loadConfigFile('examples/hub.json', HUB_ENV).connections.find((x) => x.name === 'road')!;
    expect([c.remote.addr, c.remote.id, c.local.id]).toEqual([gw.local.addr, gw.local.id, gw.remote.id]);
    expect(c.local.vips).toEqual([4]);
    expect(c.remote.tsText).toEqual(['0.0.0.0/0']);
    expect(c.killSwitch).toEqual({ allowLan: true });
    expect(c.dnsDomains).toEqual(['corp.example']);
  });

  it('a full-tunnel gateway (local.ts 0.0.0.0/0) hands out a pool: everything is not an address of its own', () => {
    const full = hub();
    full.connections.road.local.ts = ['0.0.0.0/0'];
    expect(parseConfig(full, tmp.dir, HUB_ENV).connections.find((c) => c.name === 'road')?.local.tsText).toEqual(['0.0.0.0/0']);
  });

  it('two remote-access connections may share a pool: their peers\' selectors are their own addresses', () => {
    const j = withConn('road2', (c) => (c.remote.id = 'road2.example'), 'road');
    expect(parseConfig(j, tmp.dir, HUB_ENV).connections).toHaveLength(4);
  });

  it('overlapping selectors: local ts overlap and remote ts overlap', () => {
    const j = withConn('branch3', (c) => ((c.remote.addr = '198.51.100.23'), (c.remote.id = 'branch3.example'), (c.remote.ts = ['10.1.128.0/17[tcp/443]'])));
    const m = problemAt(refuse(j), '/connections/branch3/remote/ts/0', '/connections/branch1/remote/ts/0');
    expect(m).toContain('/connections/branch3/local/ts/0 overlaps /connections/branch1/local/ts/0');
    expect(m).toContain('a packet from 10.0.0.0/16 to 10.1.128.0/17[tcp/443] matches both connections');
  });

  it('selectors that meet on one side only, or only for different protocols: accepted', () => {
    const sameLocal = withConn('branch3', (c) => ((c.remote.addr = '198.51.100.23'), (c.remote.id = 'branch3.example'), (c.remote.ts = ['10.3.0.0/16'])));
    expect(parseConfig(sameLocal, tmp.dir, HUB_ENV).connections).toHaveLength(4);
    const j = withConn('dns', (c) => ((c.remote.addr = '198.51.100.23'), (c.remote.id = 'dns.example'), (c.local.ts = ['10.0.0.53[udp/53]']), (c.remote.ts = ['10.1.0.0/16'])));
    j.connections.branch1.remote.ts = ['10.1.0.0/16[tcp]'];
    expect(parseConfig(j, tmp.dir, HUB_ENV).connections).toHaveLength(4);
  });

  it('connections on one local address with different local.port', () => {
    const j = hub();
    j.connections.branch2.local.port = 4500;
    const m = problemAt(refuse(j), '/connections/branch2/local/port', '/connections/branch1/local/port');
    expect(m).toMatch(/expected 500 .*share one IKE socket, got 4500/);
  });

  it('two pools that share addresses', () => {
    const j = hub();
    j.pools.more = { addrs: '10.99.0.200-10.99.1.10' };
    expect(problemAt(refuse(j), '/pools/more/addrs', '/pools/road/addrs')).toMatch(/both hold 10\.99\.0\.200-10\.99\.0\.255/);
  });

  it('a tun inside a connection is refused with where it goes', () => {
    const j = hub();
    j.connections.branch1.tun = { mtu: 1300 };
    expect(refuse(j).problems).toEqual([{ path: '/connections/branch1/tun', expected: expect.stringMatching(/share one TUN.*top level of the file/) }]);
  });

  it('a connection key that is not a name, an empty connections, a pool without [proto/port]', () => {
    const j = hub();
    j.connections['branch 4'] = j.connections.branch2;
    delete j.connections.branch2;
    j.pools.road.addrs = '10.99.0.0/24[udp/53]';
    const e = refuse(j);
    expect(e.problems.find((p) => p.path === '/connections/branch 4')?.expected).toMatch(/a name of 1-32 .* as the key, got "branch 4"/);
    expect(e.problems.find((p) => p.path === '/pools/road/addrs')?.expected).toMatch(/no \[proto\/port\]/);
    expect(refuse({ connections: {} }).problems).toContainEqual({ path: '/connections', expected: expect.stringMatching(/at least one, got an empty object/) });
  });

  it('an IPv6 connection on a shared TUN with an MTU below 1280', () => {
    const j = withConn('v6', (c) => {
      Object.assign(c.local, { addr: '2001:db8::10', ts: ['2001:db8:10::/48'] });
      Object.assign(c.remote, { addr: '2001:db8::30', id: 'v6.example', ts: ['2001:db8:30::/48'] });
    });
    j.tun.mtu = 1200;
    expect(problemAt(refuse(j), '/tun/mtu', '/connections/v6')).toMatch(/at least 1280.*RFC 8200/);
  });
});

describe('one run reports everything', () => {
  it('three problems of three kinds in three connections are all reported', () => {
    const j = hub();
    j.connections.branch1.ike.rekeyy = '4h'; // shape
    j.connections.branch2.child.proposals = ['aes256gcm16-prfsha256-x25519']; // meaning
    j.connections.road.pools = ['nope']; // reference
    const e = refuse(j);
    expect(e.problems.map((p) => p.path).sort()).toEqual(['/connections/branch1/ike/rekeyy', '/connections/branch2/child/proposals/0', '/connections/road/pools/0']);
  });

  it('a shape problem in one connection, a secret that cannot be read and two others overlapping', () => {
    const j = withConn('branch9', (c) => ((c.remote.addr = '198.51.100.29'), (c.remote.id = 'branch9.example')));
    j.connections.road.local.ts = 'all'; // not a list
    const e = refuse(j, { TSVPN_BRANCH_PSK: HUB_ENV.TSVPN_BRANCH_PSK });
    expect(e.problems.map((p) => p.path)).toEqual(expect.arrayContaining(['/connections/road/local/ts', '/secrets/road/psk/env', '/connections/branch9/remote/ts/0']));
    expect(e.problems.map((p) => p.path).filter((p) => p.startsWith('/connections/road'))).toEqual(['/connections/road/local/ts']);
  });
});

describe('secrets never reach a message', () => {
  const KEY = 'hunter2-very-secret';
  const cases: [string, (j: Json) => void][] = [
    ['a secret written as a string instead of {psk}', (j) => (j.secrets.branches = KEY)],
    ['a secret psk of an unknown form', (j) => (j.secrets.branches = { psk: { value: KEY } })],
    ['a secret 0x psk with odd hex', (j) => (j.secrets.branches = { psk: `0x${KEY}` })],
    ['a secret env name that is the key', (j) => (j.secrets.branches = { psk: { env: KEY } })],
    ['the key written into a connection\'s {secret}', (j) => (j.connections.branch1.psk = { secret: KEY })],
    ['the key written into {secret} with a space', (j) => (j.connections.branch1.psk = { secret: `${KEY} x` })],
    ['a secret under a misspelt field', (j) => (j.secrets.branches = { pks: KEY })],
    ['an inline connection psk nobody uses', (j) => ((j.connections.branch1.psk = KEY), (j.connections.branch1.local.auth = 'pubkey'), (j.connections.branch1.remote.auth = 'pubkey'))],
  ];
  for (const [what, edit] of cases) {
    it(what, () => {
      const j = hub();
      edit(j);
      const e = refuse(j);
      expect(e.problems.length).toBeGreaterThan(0);
      expect(e.message).not.toContain('hunter2');
      expect(e.message).not.toContain(EXAMPLE_PSK);
    });
  }

  it('broken JSON on a line with a secret psk', () => {
    const file = tmp.write('broken-hub.json', '{"secrets": {"a": {"psk": "hunter2-very-secret}}}');
    expect(() => loadConfigFile(file)).toThrow(ConfigError);
    expect(() => loadConfigFile(file)).not.toThrow(/hunter2/);
  });
});

describe('schema/peer.schema.json as an editor sees it (the root, both forms)', () => {
  type AjvClass = typeof ajv2020.default;
  const Ajv: AjvClass = (ajv2020 as unknown as { default?: AjvClass }).default ?? (ajv2020 as unknown as AjvClass);
  const validate = new Ajv({ allErrors: true, strict: true }).compile(peerSchema());

  it('accepts every example, each by its form', () => {
    for (const f of readdirSync('examples').filter((x) => x.endsWith('.json'))) {
      expect(validate(JSON.parse(readFileSync(`examples/${f}`, 'utf8'))), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('refuses a gateway field in a peer.json and a peer.json field in a gateway file', () => {
    expect(validate({ ...example(), secrets: {} })).toBe(false);
    const j = hub();
    j.connections.branch1.tun = {};
    expect(validate(j)).toBe(false);
    expect(validate({ ...hub(), local: example().local })).toBe(false);
  });
});
