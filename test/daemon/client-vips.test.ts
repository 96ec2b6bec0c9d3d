// The client side of virtual IPs without a device: the routes of a connection whose remote.ts
// leaves the choice to the gateway (the subnets it announced), and the DNS from the gateway,
// both ways it can go: through systemd-resolved, per link,
// when the resolver file is resolved's stub (here a fake `resolvectl` on PATH records its
// arguments: systemd-resolved does not run in the lab), with every name in a full tunnel and
// only dnsDomains in a split one, and reverted when the last connection lets go; and through
// the resolver file, with dnsDomains as its search line and the original back byte for byte.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientVips, wideOpen } from '../../src/daemon/client-vips.js';
import type { Logger } from '../../src/daemon/log.js';
import { resolvectlCommands, resolvedManages } from '../../src/io/resolvectl.js';

const lines: string[] = [];
const log = { info: (_: string, m: string) => lines.push(m), warn: (_: string, m: string) => lines.push(m), error: (_: string, m: string) => lines.push(`ERROR ${m}`), debug: () => {} } as unknown as Logger;
const WANTS: Record<string, { all: boolean; domains: string[] }> = {
  full: { all: true, domains: ['corp.example'] },
  split: { all: false, domains: ['corp.example', 'lab.example'] },
  plain: { all: false, domains: [] },
};

function vips(file: string, backup: string): ClientVips {
  return new ClientVips({ dev: 'tsvpn-rw', dns: { file, backup }, log, failure: () => {}, held: () => new Set(), dnsWants: (c) => WANTS[c]! });
}

describe('routes of a client', () => {
  it('remote.ts 0.0.0.0/0 and announced subnets: only the subnets inside the selectors; a configured network or another family: the selectors', () => {
    const v = vips('/nonexistent', '/nonexistent.bak');
    v.received('split', [], [], ['10.0.0.0/24', '10.9.0.0/16', '2001:db8:5::/48']);
    expect(wideOpen(['0.0.0.0/0', '2001:db8::/32'])).toEqual(new Set([4]));
    expect(v.routed('split', ['0.0.0.0/0'], new Set([4]))).toEqual(['10.0.0.0/24', '10.9.0.0/16']);
    expect(v.routed('split', ['10.0.0.0/8', '10.0.0.0/24'], new Set([4]))).toEqual(['10.0.0.0/24', '10.9.0.0/16']);
    expect(v.routed('split', ['192.0.2.0/24'], new Set([4]))).toEqual(['192.0.2.0/24']); // none inside: what the Child SA protects
    expect(v.routed('split', ['0.0.0.0/0', '::/0'], new Set([6]))).toEqual(['0.0.0.0/0', '2001:db8:5::/48']);
    expect(v.routed('split', ['0.0.0.0/0'], new Set())).toEqual(['0.0.0.0/0']); // the user's own full tunnel
    expect(v.routed('full', ['0.0.0.0/0'], new Set([4]))).toEqual(['0.0.0.0/0']); // nothing announced
    expect(lines).toContain('routing 10.0.0.0/24, 10.9.0.0/16 of 0.0.0.0/0: the subnets the gateway announced (remote.ts leaves the choice to it)');
  });
});

describe('client DNS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-dns-'));
  const calls = join(dir, 'resolvectl.calls');
  const path = process.env.PATH;
  beforeAll(() => {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'resolvectl'), `#!/bin/sh\n[ "$1" = --version ] && exit 0\necho "$*" >> ${calls}\n`);
    chmodSync(join(dir, 'bin', 'resolvectl'), 0o755);
    mkdirSync(join(dir, 'run', 'systemd', 'resolve'), { recursive: true });
    writeFileSync(join(dir, 'run', 'systemd', 'resolve', 'stub-resolv.conf'), 'nameserver 127.0.0.53\n');
    symlinkSync(join(dir, 'run', 'systemd', 'resolve', 'stub-resolv.conf'), join(dir, 'stub-link'));
    process.env.PATH = `${join(dir, 'bin')}:${path}`;
  });
  afterEach(() => {
    rmSync(calls, { force: true });
    lines.length = 0;
  });
  afterAll(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });
  const recorded = (): string[] => readFileSync(calls, 'utf8').trim().split('\n');

  it('resolved manages a resolver file that links into /run/systemd/resolve/, when resolvectl runs', () => {
    expect(resolvedManages(join(dir, 'stub-link'))).toBe(true);
    writeFileSync(join(dir, 'plain.conf'), 'nameserver 192.0.2.1\n');
    expect(resolvedManages(join(dir, 'plain.conf'))).toBe(false);
    process.env.PATH = '/nonexistent';
    try {
      expect(resolvedManages(join(dir, 'stub-link'))).toBe(false);
    } finally {
      process.env.PATH = `${join(dir, 'bin')}:${path}`;
    }
  });

  it('the resolvectl commands: ~. for a full tunnel, routing-only domains for a split one', () => {
    expect(resolvectlCommands('t', { servers: ['10.0.0.53', '2001:db8::53'], all: true, domains: [] })).toEqual([['dns', 't', '10.0.0.53', '2001:db8::53'], ['domain', 't', '~.'], ['default-route', 't', 'yes']]);
    expect(resolvectlCommands('t', { servers: ['10.0.0.53'], all: false, domains: ['corp.example'] })).toEqual([['dns', 't', '10.0.0.53'], ['domain', 't', '~corp.example'], ['default-route', 't', 'no']]);
    expect(resolvectlCommands('t', { servers: ['10.0.0.53'], all: false, domains: [] })).toEqual([['dns', 't', '10.0.0.53'], ['domain', 't']]);
  });

  it('split tunnel through systemd-resolved: only the dnsDomains go to the gateway\'s servers, reverted when the connection lets go', () => {
    const v = vips(join(dir, 'stub-link'), join(dir, 'backup-1'));
    v.received('split', [], ['10.0.0.53']);
    expect(recorded()).toEqual(['dns tsvpn-rw 10.0.0.53', 'domain tsvpn-rw ~corp.example ~lab.example', 'default-route tsvpn-rw no']);
    expect(lines).toContain('DNS: 10.0.0.53 on tsvpn-rw through systemd-resolved, for names in corp.example, lab.example, while the tunnel is up');
    v.close();
    expect(recorded().at(-1)).toBe('revert tsvpn-rw');
    expect(readFileSync(join(dir, 'stub-link'), 'utf8')).toBe('nameserver 127.0.0.53\n'); // the stub itself untouched
  });

  it('full tunnel through systemd-resolved: every name (~.), the link a DNS default route', () => {
    const v = vips(join(dir, 'stub-link'), join(dir, 'backup-2'));
    v.received('full', [], ['10.0.0.53']);
    expect(recorded()).toEqual(['dns tsvpn-rw 10.0.0.53', 'domain tsvpn-rw ~. corp.example', 'default-route tsvpn-rw yes']);
    v.close();
    expect(recorded().at(-1)).toBe('revert tsvpn-rw');
  });

  it('without resolved: the resolver file gets the servers and dnsDomains as its search line, and the original back byte for byte', () => {
    const file = join(dir, 'resolv.conf');
    const original = '# mine\nnameserver 192.0.2.1\noptions edns0\n';
    writeFileSync(file, original);
    const v = vips(file, join(dir, 'backup-3'));
    v.received('split', [], ['10.0.0.53']);
    expect(readFileSync(file, 'utf8')).toMatch(/^# written by tsvpn: .*\nnameserver 10\.0\.0\.53\nsearch corp\.example lab\.example\n$/);
    expect(lines.join('\n')).toContain('resolv.conf cannot route by domain');
    v.received('plain', [], []); // a connection without DNS changes nothing
    v.close();
    expect(readFileSync(file, 'utf8')).toBe(original);
    expect(() => readFileSync(calls)).toThrow(); // resolvectl never ran
  });
});
