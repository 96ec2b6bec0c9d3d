// The resolver file while a gateway's DNS servers are in use (src/io/resolv-conf.ts), on files
// in a temporary directory: applied in place with the original kept, a second apply keeps the
// first original, restore puts it back byte for byte, and a symlinked resolv.conf (a resolver
// manager's) is left alone.
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { applyDns, restoreDns, type DnsFiles } from '../../src/io/resolv-conf.js';

let dir: string;
let f: DnsFiles;
const ORIGINAL = '# the host\'s own\nnameserver 192.0.2.1\nsearch example.net\noptions edns0\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-resolv-'));
  f = { file: join(dir, 'resolv.conf'), backup: join(dir, 'x.resolv.conf') };
  writeFileSync(f.file, ORIGINAL);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the resolver file while a gateway\'s DNS servers are in use', () => {
  it('holds only the gateway\'s servers, then the original byte for byte; a second apply keeps the first original', () => {
    expect(applyDns(f, ['10.0.0.53', '2001:db8::53'], 'DNS servers from rw')).toBeUndefined();
    expect(readFileSync(f.file, 'utf8')).toBe(`# written by tsvpn: DNS servers from rw; the original is in ${f.backup} and comes back when the tunnel goes down\nnameserver 10.0.0.53\nnameserver 2001:db8::53\n`);
    expect(readFileSync(f.backup, 'utf8')).toBe(ORIGINAL);
    applyDns(f, ['10.0.0.54'], 'DNS servers from rw, rw2');
    expect(readFileSync(f.backup, 'utf8')).toBe(ORIGINAL);
    expect(restoreDns(f)).toBe(true);
    expect(readFileSync(f.file, 'utf8')).toBe(ORIGINAL);
    expect(existsSync(f.backup)).toBe(false);
    expect(restoreDns(f)).toBe(false); // nothing of ours in place: nothing written
  });

  it('a resolv.conf that is a link (systemd-resolved\'s stub) is left alone, and says why', () => {
    const target = join(dir, 'stub-resolv.conf');
    writeFileSync(target, 'nameserver 127.0.0.53\n');
    rmSync(f.file);
    symlinkSync(target, f.file);
    expect(applyDns(f, ['10.0.0.53'], 'x')).toBe(`${f.file} is a link to ${target} (a resolver manager owns it): DNS servers 10.0.0.53 not applied`);
    expect(readFileSync(target, 'utf8')).toBe('nameserver 127.0.0.53\n');
    expect(existsSync(f.backup)).toBe(false);
  });
});
