// Issue 13 hole 4: files holding secrets that others can read draw a warning, files others can
// write are refused, and a short PSK draws a warning; no message carries the PSK.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/gateway.js';

const LEFT = JSON.parse(readFileSync(new URL('../../examples/left.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const PSK = 'a-long-enough-secret-0123456789';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tsvpn-files-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, body: unknown, mode: number): string {
  const file = join(dir, name);
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
  chmodSync(file, mode);
  return file;
}

function refused(file: string): ConfigError {
  try {
    loadConfigFile(file, {});
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`${file} was accepted`);
}

describe('files that hold secrets', () => {
  it('a peer.json with an inline PSK: quiet at 0600, a warning when others can read it, refused when others can write it', () => {
    const file = write('left.json', { ...LEFT, psk: PSK }, 0o600);
    expect(loadConfigFile(file, {}).warnings).toBeUndefined();
    chmodSync(file, 0o644);
    expect(loadConfigFile(file, {}).warnings).toEqual([{ path: '', expected: expect.stringContaining(`${file} holds a PSK or password and is readable by every user (chmod 600 ${file}`) }]);
    chmodSync(file, 0o640);
    expect(loadConfigFile(file, {}).warnings?.[0]?.expected).toContain('readable by its group');
    chmodSync(file, 0o646);
    const e = refused(file);
    expect(e.problems).toContainEqual({ path: '', expected: expect.stringContaining('is writable by every user of this host') });
  });

  it('a config without an inline secret may be readable by all; never writable by all', () => {
    write('left.psk', `${PSK}\n`, 0o600);
    const file = write('left.json', { ...LEFT, psk: { file: 'left.psk' } }, 0o644);
    expect(loadConfigFile(file, {}).warnings).toBeUndefined();
    chmodSync(file, 0o666);
    expect(refused(file).problems[0]?.path).toBe('');
  });

  it('a PSK file others can read is a warning at /psk/file; others can write it: refused, with the other problems of the file', () => {
    const psk = write('left.psk', `${PSK}\n`, 0o604);
    const file = write('left.json', { ...LEFT, psk: { file: 'left.psk' } }, 0o600);
    expect(loadConfigFile(file, {}).warnings).toEqual([{ path: '/psk/file', expected: `${psk} (the PSK) is readable by every user (chmod 600 ${psk})` }]);
    chmodSync(psk, 0o602);
    writeFileSync(file, JSON.stringify({ ...LEFT, psk: { file: 'left.psk' }, start: 'sometimes' }));
    const e = refused(file);
    expect(e.problems.map((p) => p.path).sort()).toEqual(['/psk/file', '/start']);
  });

  it('a gateway file: secrets files and short PSKs are named by their paths, and no message carries a PSK', () => {
    const short = 'tiny-psk';
    write('branches.psk', `${PSK}\n`, 0o640);
    const conn = (addr: string, psk: unknown) => ({ ...LEFT, name: undefined, remote: { ...(LEFT.remote as object), addr, ts: [`10.${addr.split('.')[3]}.0.0/16`] }, psk });
    const { name: _n, ...a } = conn('198.51.100.2', { secret: 'branches' });
    const { name: _m, ...b } = conn('198.51.100.3', short);
    const file = write('hub.json', { secrets: { branches: { psk: { file: 'branches.psk' } } }, connections: { a, b } }, 0o600);
    const w = loadConfigFile(file, {}).warnings ?? [];
    expect(w.map((x) => x.path)).toEqual(['/secrets/branches/psk/file', '/connections/b/psk']);
    expect(w[0]?.expected).toContain('readable by its group');
    expect(w[1]?.expected).toContain('the PSK is 8 bytes: use at least 20 random characters');
    for (const x of w) expect(x.expected).not.toContain(short);
  });
});
