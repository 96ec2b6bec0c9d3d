// --save-keys as the daemon applies it: the directory is checked before anything starts, the
// tables are created 0600 (and narrowed to 0600 when found wider), a symlink is not followed,
// and the effect applier writes each SA's keys there, zeroes them, and logs no key.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EffectApplier } from '../../src/daemon/effects.js';
import { lineLogger } from '../../src/daemon/log.js';
import { ESP_TABLE, IKE_TABLE, SaveKeys } from '../../src/daemon/save-keys.js';
import type { ChildSaInfo, ExportedIkeKeys } from '../../src/ike/effects.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import { bareApplier } from './helpers/applier.js';
import { childSaInfo } from './helpers/child-sa.js';

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
const ikeKeys = (encr: { id: number; keyLength?: number } = { id: EncrId.AES_GCM_16, keyLength: 256 }): ExportedIkeKeys => ({
  spiI: fill(8, 0x11),
  spiR: fill(8, 0x22),
  encr,
  integ: IntegId.NONE,
  skEi: fill(36, 0xa1),
  skEr: fill(36, 0xa2),
  skAi: new Uint8Array(0),
  skAr: new Uint8Array(0),
});
const child = (): ChildSaInfo => childSaInfo({ keysIn: { encr: fill(36, 0xb1), integ: new Uint8Array(0) }, keysOut: { encr: fill(36, 0xb2), integ: new Uint8Array(0) } });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-save-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function applier(saveKeys: SaveKeys | undefined, lines: string[]): EffectApplier {
  return bareApplier({ log: lineLogger((l) => lines.push(l), 'debug'), saveKeys });
}

describe('SaveKeys.open: the directory', () => {
  it('refuses one that does not exist, a file, and a world-writable one, saying why', () => {
    expect(() => SaveKeys.open(join(dir, 'missing'))).toThrow(/--save-keys .*missing: .*ENOENT.*the directory must exist/);
    writeFileSync(join(dir, 'f'), '');
    expect(() => SaveKeys.open(join(dir, 'f'))).toThrow(/not a directory/);
    mkdirSync(join(dir, 'open'));
    chmodSync(join(dir, 'open'), 0o1777); // like /tmp
    expect(() => SaveKeys.open(join(dir, 'open'))).toThrow(/world-writable \(mode 1777\)/);
    expect(SaveKeys.open(dir).dir).toBe(dir);
  });
});

describe('SaveKeys: the tables', () => {
  it('creates both files 0600 and appends a line per IKE SA and two per Child SA', () => {
    const k = SaveKeys.open(dir);
    expect(k.ike(ikeKeys())).toBe(true);
    expect(k.ike(ikeKeys())).toBe(true);
    expect(k.child(child())).toBe(true);
    expect(readFileSync(join(dir, IKE_TABLE), 'utf8').split('\n')).toHaveLength(3); // two lines and the last newline
    expect(readFileSync(join(dir, ESP_TABLE), 'utf8').split('\n')).toHaveLength(3);
    for (const f of [IKE_TABLE, ESP_TABLE]) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it('narrows a table it finds readable by others to 0600, and does not write through a symlink', () => {
    writeFileSync(join(dir, IKE_TABLE), '', { mode: 0o644 });
    chmodSync(join(dir, IKE_TABLE), 0o644);
    SaveKeys.open(dir).ike(ikeKeys());
    expect(statSync(join(dir, IKE_TABLE)).mode & 0o777).toBe(0o600);
    const elsewhere = join(dir, 'elsewhere');
    writeFileSync(elsewhere, '');
    symlinkSync(elsewhere, join(dir, ESP_TABLE));
    expect(() => SaveKeys.open(dir).child(child())).toThrow(/ELOOP/);
    expect(readFileSync(elsewhere, 'utf8')).toBe('');
  });
});

describe('EffectApplier with --save-keys', () => {
  it('writes the IKE and Child SA keys to the tables, zeroes them in the effects, and logs no key', () => {
    const lines: string[] = [];
    const a = applier(SaveKeys.open(dir), lines);
    const k = ikeKeys();
    const c = child();
    a.apply([{ type: 'export-keys', keys: k }, { type: 'install-sa', child: c }]);
    expect(a.errors).toBe(0);
    expect(readFileSync(join(dir, IKE_TABLE), 'utf8')).toContain('a1a1a1a1');
    const esp = readFileSync(join(dir, ESP_TABLE), 'utf8');
    expect(esp).toContain('0xb2b2b2b2'); // outbound first
    expect(esp).toContain('0xb1b1b1b1');
    for (const b of [k.skEi, k.skEr, c.keysIn.encr, c.keysOut.encr]) expect(b.every((x) => x === 0)).toBe(true);
    expect(lines.join('\n')).not.toMatch(/a1a1|a2a2|b1b1|b2b2/);
  });

  it('a cipher Wireshark cannot decrypt, or a table it cannot write, is logged by SA name without keys; the SA is still installed', () => {
    const lines: string[] = [];
    const a = applier(SaveKeys.open(dir), lines);
    a.apply([{ type: 'export-keys', keys: ikeKeys({ id: EncrId.CHACHA20_POLY1305 }) }]);
    expect(lines.join('\n')).toMatch(/Wireshark cannot decrypt the cipher of IKE SA 1111111111111111_i 2222222222222222_r/);
    mkdirSync(join(dir, ESP_TABLE)); // a directory where the table should be
    a.apply([{ type: 'install-sa', child: child() }]);
    expect(a.errors).toBe(0);
    expect(a.children.size).toBe(1);
    expect(lines.join('\n')).toMatch(/--save-keys: the keys of Child SA net \(aes256gcm16\) were not saved/);
    expect(lines.join('\n')).not.toMatch(/a1a1|a2a2|b1b1|b2b2/);
  });

  it('zeroes exported IKE keys even when nothing is saved', () => {
    const k = ikeKeys();
    applier(undefined, []).apply([{ type: 'export-keys', keys: k }]);
    expect(k.skEi.every((x) => x === 0) && k.skEr.every((x) => x === 0)).toBe(true);
  });
});
