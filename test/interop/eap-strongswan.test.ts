// Issue 14 item 4, EAP-MSCHAPv2 in IKE_AUTH (RFC 7296 §2.16) against strongSwan 5.9.8 in both
// roles. First, road warriors at one `tsvpn up gw.json`: two charons with `auth = eap-mschapv2`
// (users in the gateway's secrets.eap) and one with a certificate, at once, each in its own
// namespace on the gateway's bridge, against a pool of three: each gets a distinct address
// (swanctl --list-sas), the DNS attribute, and pings the gateway's network from its address; a
// fourth with a wrong password is refused, and tsvpn's status names EAP-MSCHAPv2 and the result.
// Then a charon gateway (certificate + eap-mschapv2 + a pool with DNS) and a tsvpn client.
// charon's eap-mschapv2 takes MD4 and DES from its openssl plugin (OpenSSL 3's legacy provider).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createBridgeLab, createClientGatewayLab, type BridgeLab, type ClientGatewayLab } from '../../interop/lab/bridge.js';
import { createCa, hostIds, issueHost, pkiSupport } from '../../interop/lab/pki.js';
import { hasInstalled, localVips, startStrongswan, strongswanSupport, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { startTsvpn, tsvpnInstalled, type Tsvpn } from '../../interop/lab/tsvpn.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { ip, listNs, netnsSupport } from '../../src/io/netns.js';
import { nsRun, ping } from '../e2e/helpers/lab.js';

const reasons = [netnsSupport(), strongswanSupport(), pkiSupport()].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

const PREFIX = 'tsve-';
const tag = Math.random().toString(16).slice(2, 8);
const GW = '198.51.100.1';
const GW_HOST = '10.0.0.1';
const POOL = '10.3.0.10-10.3.0.12';
const DNS = '10.0.0.53';
const PROPOSAL = 'aes256gcm16-prfsha256-x25519';
const CHILD = 'net';
const EAP_PLUGINS = ['eap-identity', 'eap-mschapv2']; // package libcharon-extauth-plugins
const USERS: Record<string, string> = { alice: 'alice-Password-1', bob: 'bob-Password-2', carol: 'carol-Password-3' };

const tail = (text: string, n: number) => text.split('\n').slice(-n).join('\n');
const CHILD_TS = { name: CHILD, espProposals: ['aes256gcm16'] };

describe.skipIf(!ok)(`strongSwan road warriors with EAP-MSCHAPv2 and a certificate at a tsvpn gateway ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  // rw1 alice and rw2 bob with EAP, rw3 with a certificate, rw4 carol with a wrong password
  const WARRIORS = [1, 2, 3, 4];
  const EAP_USER: Record<number, string> = { 1: 'alice', 2: 'bob', 4: 'carol' };
  const outer = (i: number) => `198.51.100.${10 + i}`;
  let lab: BridgeLab | undefined;
  const charons = new Map<number, Strongswan>();
  let gw: Tsvpn | undefined;
  const status = async (): Promise<TunnelStatus> => (await gw!.status())!;
  const why = (i: number) => `--- gw ---\n${tail(gw?.log() ?? '', 30)}\n--- charon rw${i} ---\n${tail(charons.get(i)?.log() ?? '(not started)', 30)}`;

  const gatewayFile = () => {
    const side = { addr: GW, id: 'gw.example', auth: 'pubkey', cert: 'gw.pem', key: 'gw.key', ts: ['10.0.0.0/24'] };
    const rest = { pools: ['rw'], ike: { proposals: [PROPOSAL] }, child: { proposals: ['aes256gcm16'] }, start: 'wait', dpdAction: 'clear' };
    return {
      name: 'gw',
      secrets: { eap: { alice: USERS.alice, bob: USERS.bob, carol: USERS.carol } },
      pools: { rw: { addrs: POOL, dns: [DNS] } },
      connections: {
        eap: { local: side, remote: { addr: '%any', id: '%any', auth: 'eap-mschapv2', ts: ['10.3.0.0/24'] }, ...rest },
        cert: { local: side, remote: { addr: '%any', id: '%any', auth: 'pubkey', ca: 'ca.pem', ts: ['10.3.0.0/24'] }, ...rest },
      },
    };
  };

  const charonConf = (i: number) => {
    const user = EAP_USER[i];
    return swanctlConf({
      name: 'gw',
      localAddrs: outer(i),
      remoteAddrs: GW,
      proposals: [PROPOSAL],
      vips: ['0.0.0.0'],
      local: user ? { auth: 'eap-mschapv2', id: outer(i), eapId: user } : { auth: 'pubkey', id: `rw${i}.example`, certs: [`rw${i}.pem`] },
      remote: { auth: 'pubkey', id: 'gw.example', cacerts: ['ca.pem'] },
      child: { ...CHILD_TS, localTs: ['dynamic'], remoteTs: ['10.0.0.0/24'] },
      ...(user ? { eap: { [user]: i === 4 ? 'not-carols-password' : USERS[user]! } } : {}),
    });
  };

  beforeAll(async () => {
    const ca = createCa({ keyType: 'ecdsa' });
    const gwCert = issueHost(ca, hostIds('gw', GW));
    lab = await createBridgeLab({ prefix: PREFIX, tag, gw: GW, gwHost: GW_HOST, warriors: WARRIORS, outer });
    gw = startTsvpn({ ns: lab.gwNs, peer: gatewayFile(), files: { 'gw.pem': gwCert.certPem, 'gw.key': gwCert.keyPem, 'ca.pem': ca.certPem } });
    await gw.waitFor(() => true, 15_000, 'the gateway daemon');
    for (const i of WARRIORS) {
      const files: Record<string, string> = { 'x509ca/ca.pem': ca.certPem };
      if (!EAP_USER[i]) {
        const c = ca.issue({ dn: `C=CH, O=tsvpn lab, CN=rw${i}.example`, sans: [`rw${i}.example`] });
        Object.assign(files, { [`x509/rw${i}.pem`]: c.certPem, [`private/rw${i}.key`]: c.keyPem });
      }
      charons.set(i, await startStrongswan({ ns: lab.nsOf(i), name: `rw${i}`, conf: charonConf(i), files, plugins: EAP_PLUGINS, charonConf: 'install_virtual_ip = yes' }));
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of charons.values()) await c.stop();
    await gw?.stop();
    lab?.remove();
    expect(listNs().filter((n) => n.startsWith(PREFIX) && n.endsWith(`-${tag}`)), 'namespaces left behind').toEqual([]);
  }, 30_000);

  it('two EAP-MSCHAPv2 users and a certificate at once: distinct pool addresses, the DNS attribute, pings from each address', async () => {
    const results = await Promise.all([1, 2, 3].map((i) => charons.get(i)!.initiate(CHILD)));
    results.forEach((r, k) => {
      if (!r.ok) expect.fail(`swanctl --initiate in rw${k + 1}: ${r.output}\n${why(k + 1)}`);
    });
    const vips: string[] = [];
    for (const i of [1, 2, 3]) {
      const c = charons.get(i)!;
      await c.waitFor((s) => hasInstalled(s, CHILD), 10_000, 'INSTALLED');
      const [vip] = localVips(c);
      expect(vip, why(i)).toMatch(/^10\.3\.0\.1[012]$/);
      vips.push(vip!);
      expect(c.log(), why(i)).toMatch(/INTERNAL_IP4_DNS/);
      // charon's own account of the EAP exchange
      if (EAP_USER[i]) expect(c.log(), why(i)).toMatch(/EAP method EAP_MSCHAPV2 succeeded, MSK established/);
    }
    expect(new Set(vips).size).toBe(3);
    const s = await status();
    const leased = s.ikeSas.filter((sa) => sa.state === 'ESTABLISHED').map((sa) => [sa.remoteId, sa.vips?.leased?.[0]]);
    expect(leased.sort(), why(1)).toEqual([['alice', vips[0]], ['bob', vips[1]], ['rw3.example', vips[2]]].sort());
    expect(s.pools).toEqual([{ name: 'rw', addrs: POOL, size: 3, online: 3, offline: 0 }]);
    expect(s.lastFailure, why(1)).toBeNull();
    const pings = await Promise.all([1, 2, 3].map((i) => ping(lab!.nsOf(i), vips[i - 1]!, GW_HOST, ['-c', '3', '-i', '0.2', '-W', '2'])));
    pings.forEach((p, k) => expect(p.code, `rw${k + 1}: ${p.out}\n${why(k + 1)}`).toBe(0));
    expect(gw!.log()).toMatch(/EAP-MSCHAPv2 success for user alice/);
    expect(gw!.log()).not.toMatch(/Password-\d/);
  }, 90_000);

  it('a wrong password: charon fails with the MSCHAPv2 failure, tsvpn reports F3 with EAP-MSCHAPv2 and the result, never the password', async () => {
    const c = charons.get(4)!;
    const r = await c.initiate(CHILD, { timeoutS: 15 });
    expect(r.ok, r.output).toBe(false);
    await gw!.waitFor((s) => s.lastUnauthenticatedFailure?.row === 'F3', 10_000, 'F3 in the gateway status').catch((e) => {
      throw new Error(`${(e as Error).message}\n${why(4)}`);
    });
    const f = (await status()).lastUnauthenticatedFailure!;
    expect(f, why(4)).toMatchObject({ row: 'F3', message: expect.stringContaining('EAP-MSCHAPv2: user carol: wrong password'), evidence: { check: 'eap', eap: { method: 'EAP-MSCHAPv2', user: 'carol', result: 'user carol: wrong password' } } });
    expect(c.log(), why(4)).toMatch(/EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE/);
    expect(JSON.stringify(await status())).not.toMatch(/not-carols-password|Password-\d/);
    expect(gw!.log()).not.toMatch(/not-carols-password|Password-\d/);
    for (const i of [1, 2, 3]) expect(hasInstalled(charons.get(i)!.listSas(), CHILD), `rw${i}`).toBe(true);
  }, 60_000);
});

describe.skipIf(!ok)(`a tsvpn client with EAP-MSCHAPv2 at a strongSwan gateway ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  let lab: ClientGatewayLab | undefined;
  const SG = '198.51.100.2';
  const CL = '198.51.100.3';
  const ORIGINAL_RESOLV = 'nameserver 192.0.2.99\n';
  let caPem = '';
  let charon: Strongswan | undefined;
  let client: Tsvpn | undefined;
  const why = () => `--- tsvpn client ---\n${tail(client?.log() ?? '', 30)}\n--- charon gateway ---\n${tail(charon?.log() ?? '', 40)}`;

  const startClient = (name: string, password: string): Tsvpn =>
    (client = startTsvpn({
      ns: lab!.clientNs,
      files: { 'ca.pem': caPem },
      peer: {
        name,
        local: { addr: CL, id: CL, auth: 'eap-mschapv2', eapId: 'alice', ts: ['dynamic'], vips: ['0.0.0.0'] },
        remote: { addr: SG, id: 'gw.example', auth: 'pubkey', ca: 'ca.pem', ts: ['10.0.0.0/24'] },
        eapPassword: password,
        ike: { proposals: [PROPOSAL] },
        child: { proposals: ['aes256gcm16'] },
        start: 'initiate',
        tun: { name: `tsve${name}` },
      },
    }));

  beforeAll(async () => {
    const ca = createCa({ keyType: 'ecdsa' });
    caPem = ca.certPem;
    const gwCert = issueHost(ca, hostIds('gw', SG));
    lab = createClientGatewayLab({ prefix: PREFIX, tag, gw: SG, client: CL, gwHost: GW_HOST, resolvConf: ORIGINAL_RESOLV });
    charon = await startStrongswan({
      ns: lab!.gwNs,
      name: 'sgw',
      plugins: EAP_PLUGINS,
      files: { 'x509/gw.pem': gwCert.certPem, 'private/gw.key': gwCert.keyPem },
      conf: swanctlConf({
        name: 'rw',
        localAddrs: SG,
        remoteAddrs: '%any',
        proposals: [PROPOSAL],
        pools: { rw: { addrs: '10.4.0.0/28', dns: [DNS] } },
        local: { auth: 'pubkey', id: 'gw.example', certs: ['gw.pem'] },
        remote: { auth: 'eap-mschapv2', id: '%any', eapId: '%any' },
        child: { ...CHILD_TS, localTs: ['10.0.0.0/24'], remoteTs: ['dynamic'] },
        eap: { alice: USERS.alice! },
      }),
    });
  }, 60_000);

  afterAll(async () => {
    await charon?.stop();
    await client?.stop();
    lab?.remove();
  }, 30_000);

  it('the client proves alice with EAP-MSCHAPv2, gets an address of the pool on its TUN and the DNS server, and pings through', async () => {
    const c = startClient('ok', USERS.alice!);
    await c.waitFor(tsvpnInstalled, 20_000, 'the client up').catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    const sa = (await c.status())!.ikeSas.find((x) => x.state === 'ESTABLISHED')!;
    const vip = sa.vips?.own?.[0];
    expect(vip, why()).toMatch(/^10\.4\.0\.(\d+)$/);
    expect(sa.vips?.dns).toEqual([DNS]);
    expect(charon!.log(), why()).toMatch(/EAP method EAP_MSCHAPV2 succeeded, MSK established/);
    const ss = charon!.listSas().find((x) => x.state === 'ESTABLISHED')!;
    const remoteVips = ss.raw['remote-vips'];
    expect(Array.isArray(remoteVips) ? remoteVips : [remoteVips]).toEqual([vip]);
    expect(ip(['-o', 'addr', 'show', 'dev', 'tsveok'], lab!.clientNs)).toContain(`inet ${vip}/32`);
    const p = await nsRun(lab!.clientNs, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', GW_HOST]);
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    expect(readFileSync(lab!.resolvConfPath, 'utf8')).toContain(`nameserver ${DNS}\n`);
    expect(c.log()).not.toMatch(/Password-\d/);
    await c.stop();
  }, 60_000);

  it('a wrong password: F3 on the client naming EAP-MSCHAPv2 and the gateway\'s E=691, never the password', async () => {
    const c = startClient('bad', 'not-alices-password');
    const s = await c.waitFor((x) => x.lastFailure?.row === 'F3', 20_000, 'F3 on the client').catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    expect(s.lastFailure, why()).toMatchObject({ row: 'F3', message: expect.stringContaining('EAP-MSCHAPv2 failure E=691 from the gateway'), evidence: { check: 'eap', eap: { method: 'EAP-MSCHAPv2', user: 'alice' } } });
    expect(JSON.stringify(s)).not.toContain('not-alices-password');
    expect(c.log()).not.toContain('not-alices-password');
    await c.stop();
  }, 60_000);
});
