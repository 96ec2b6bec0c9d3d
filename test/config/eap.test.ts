// EAP-MSCHAPv2 in the config (RFC 7296 §2.16): a client with local.auth "eap-mschapv2", its user
// name and password; a gateway with remote.auth "eap-mschapv2" and its users in secrets.eap.
// EAP without a gateway certificate is refused with the field's path; passwords never show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/gateway.js';
import { ConfigError } from '../../src/config/load.js';
import { findJsonFault } from '../../src/config/json-syntax.js';
import { disposePeerConfig } from '../../src/config/ike-config.js';
import { makePki, type Pki } from '../ike/helpers/pki.js';
import type { Json } from './fixtures.js';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
  pki.ca('ca');
  pki.leaf('ca', 'ecdsa', 'gw.example'); // leaf0.pem, leaf0.key
  writeFileSync(join(pki.dir, 'bob.pw'), 'bob-Password-2\n');
});
afterAll(() => pki.cleanup());

const client = (): Json => ({
  name: 'rw',
  local: { addr: '198.51.100.1', id: '198.51.100.1', auth: 'eap-mschapv2', eapId: 'alice', ts: ['0.0.0.0/0'], vips: ['0.0.0.0'] },
  remote: { addr: '198.51.100.2', id: 'gw.example', auth: 'pubkey', ca: 'ca.pem', ts: ['10.2.0.0/16'] },
  eapPassword: 'alice-Password-1',
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
  child: { proposals: ['aes256gcm16'] },
  start: 'initiate',
});
const gateway = (): Json => ({
  name: 'gw',
  connections: {
    rw: {
      local: { addr: '198.51.100.2', id: 'gw.example', auth: 'pubkey', cert: 'leaf0.pem', key: 'leaf0.key', ts: ['10.2.0.0/16'] },
      remote: { addr: '%any', id: '%any', auth: 'eap-mschapv2', ts: ['10.3.0.0/24'] },
      ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
      child: { proposals: ['aes256gcm16'] },
      pools: ['rw'],
      start: 'wait',
    },
    // the same addresses and %any, told apart by EAP (a request without AUTH) or not
    cert: {
      local: { addr: '198.51.100.2', id: 'gw.example', auth: 'pubkey', cert: 'leaf0.pem', key: 'leaf0.key', ts: ['10.2.0.0/16'] },
      remote: { addr: '%any', id: '%any', auth: 'pubkey', ca: 'ca.pem', ts: ['10.3.0.0/24'] },
      ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
      child: { proposals: ['aes256gcm16'] },
      pools: ['rw'],
      start: 'wait',
    },
  },
  pools: { rw: { addrs: '10.3.0.0/29' } },
  secrets: { eap: { alice: 'alice-Password-1', bob: { file: 'bob.pw' }, carol: { env: 'CAROL_PW' } } },
});

function refused(j: Json, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(j, pki.dir, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('accepted');
}
const paths = (e: ConfigError) => e.problems.map((p) => p.path);

describe('EAP-MSCHAPv2 configuration', () => {
  it('a client: the user name and password, the gateway checked by its certificate; disposing zeroes the password', () => {
    const c = parseConfig(client(), pki.dir).connections[0];
    expect(c.local.auth).toMatchObject({ method: 'eap-mschapv2', eapId: 'alice' });
    const a = c.local.auth as { password: Uint8Array };
    expect(new TextDecoder().decode(a.password)).toBe('alice-Password-1');
    expect(inspect(c)).not.toContain('alice-Password-1');
    expect(JSON.stringify(c)).not.toContain('alice-Password-1');
    disposePeerConfig(c);
    expect(a.password.every((b) => b === 0)).toBe(true);
  });

  it('a gateway: users from secrets.eap inline, in a file and in the environment; an EAP and a certificate connection on %any side by side', () => {
    const g = parseConfig(gateway(), pki.dir, { CAROL_PW: 'carol-Password-3' });
    expect(g.connections.map((c) => [c.name, c.remote.auth.method])).toEqual([['rw', 'eap-mschapv2'], ['cert', 'pubkey']]);
    const r = g.connections[0].remote.auth;
    expect(r.method).toBe('eap-mschapv2');
    const users = (r as { users: ReadonlyMap<string, Uint8Array> }).users;
    expect([...users.keys()]).toEqual(['alice', 'bob', 'carol']);
    expect(new TextDecoder().decode(users.get('bob'))).toBe('bob-Password-2');
    expect(inspect(g)).not.toMatch(/Password-\d/);
  });

  it('EAP without a gateway certificate is refused with the path: the client must check one, the gateway must show one', () => {
    const c = client();
    c.remote = { ...c.remote, auth: 'psk', ca: undefined };
    c.psk = 'a-long-enough-psk-0123456789';
    expect(paths(refused(c))).toContain('/remote/auth');
    const g = gateway();
    g.connections.rw.local = { addr: '198.51.100.2', id: 'gw.example', auth: 'psk', ts: ['10.2.0.0/16'] };
    g.connections.rw.psk = 'a-long-enough-psk-0123456789';
    const e = refused(g, { CAROL_PW: 'x' });
    expect(paths(e)).toContain('/connections/rw/local/auth');
    expect(e.problems.find((p) => p.path === '/connections/rw/local/auth')!.expected).toContain('certificate');
  });

  it('a peer.json cannot hold EAP users; a client needs eapId and eapPassword; stray fields are named', () => {
    const p = { ...client(), local: { addr: '198.51.100.2', id: 'gw.example', auth: 'pubkey', cert: 'leaf0.pem', key: 'leaf0.key', ts: ['10.2.0.0/16'] }, remote: { addr: '%any', id: '%any', auth: 'eap-mschapv2', ts: ['10.3.0.0/24'] } };
    expect(paths(refused(p))).toEqual(expect.arrayContaining(['/remote/auth', '/eapPassword']));
    const c = client();
    delete c.local.eapId;
    delete c.eapPassword;
    expect(paths(refused(c))).toEqual(expect.arrayContaining(['/local/eapId', '/eapPassword']));
  });

  it('a missing password file or variable is named at its user, never with a password', () => {
    const e = refused(gateway(), {});
    expect(paths(e)).toContain('/secrets/eap/carol/env');
    expect(e.message).not.toMatch(/Password-\d/);
  });

  it('a JSON syntax error masks the EAP passwords on the line it shows', () => {
    const text = '{\n  "secrets": { "eap": {\n    "alice": "alice-Password-1" "bob": "x"\n  } }\n}';
    const f = findJsonFault(text)!;
    expect(f.line).toBe(3);
    expect(f.excerpt).not.toContain('alice-Password-1');
    const t2 = '{ "eapPassword": "alice-Password-1\n" }';
    expect(findJsonFault(t2)!.excerpt).not.toContain('alice-Password-1');
  });
});
