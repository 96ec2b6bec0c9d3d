// `tsvpn up` with a broken peer.json refuses to start: exit code 2 and one line per problem
// naming the field's JSON pointer. The full table of broken files is in test/config; these
// are the cases an operator meets first, run through the real command. No root needed: the
// file is checked before anything is opened.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TSVPN_BIN } from '../../src/cli/lab-tunnel.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/left.json', import.meta.url));
const SECRET = 'do-not-print-this-psk-7f3a';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-badcfg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function up(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [TSVPN_BIN, 'up', file], { env: { ...process.env, TSVPN_CONTROL_DIR: join(dir, 'ctl'), ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** examples/left.json changed by `edit`, written to the temp directory. */
function broken(name: string, edit: (j: Record<string, any>) => void): string {
  const j = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, any>;
  j.psk = SECRET;
  edit(j);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(j));
  return file;
}

describe('tsvpn up with a broken peer.json', () => {
  it.each([
    ['a misspelt field', (j: Record<string, any>) => (j.ike.rekeyy = '4h'), '/ike/rekeyy', /unknown field/],
    ['an unknown algorithm', (j: Record<string, any>) => (j.ike.proposals = ['aes256gcm16-prfsha256-x2559']), '/ike/proposals/0', /x2559/],
    ['a missing identity', (j: Record<string, any>) => delete j.remote.id, '/remote/id', /required/],
    ['a bad mode', (j: Record<string, any>) => (j.child.mode = 'tunel'), '/child/mode', /tunnel/],
    ['a PSK from an unset variable', (j: Record<string, any>) => (j.psk = { env: 'TSVPN_E2E_UNSET_PSK' }), '/psk/env', /TSVPN_E2E_UNSET_PSK/],
    ['a bad selector', (j: Record<string, any>) => (j.remote.ts = ['203.0.113.128/33']), '/remote/ts/0', /./],
    // issue 14's bad remote-access files (a pool overlapping local.ts: test/config/gateway.test.ts)
    ['vips on a responder', (j: Record<string, any>) => ((j.local.vips = ['0.0.0.0']), (j.start = 'wait')), '/local/vips', /only an initiator asks for a virtual IP/],
    ['a kill switch on a responder', (j: Record<string, any>) => ((j.killSwitch = true), (j.start = 'wait')), '/killSwitch', /only a client has a kill switch/],
  ])('%s: exit 2, naming the field, before anything starts', { timeout: 20_000 }, async (_what, edit, path, gist) => {
    const file = broken(path.replace(/\//g, '_'), edit);
    const r = await up(file);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).toBe(`tsvpn: ${file} is not a valid peer file:`);
    const line = lines.find((l) => l.startsWith(`${path}: `));
    expect(line, r.err).toBeDefined();
    expect(line).toMatch(gist);
    expect(r.err).not.toContain(SECRET);
    expect(existsSync(join(dir, 'ctl'))).toBe(false); // no daemon got as far as its control socket
  });

  it('a gateway file whose pool overlaps a connection\'s local.ts: exit 2, naming the connection\'s pools entry', { timeout: 20_000 }, async () => {
    const j = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/hub.json', import.meta.url)), 'utf8')) as Record<string, any>;
    j.pools.road.addrs = '10.0.5.0/24'; // inside the hub's local.ts 10.0.0.0/16
    j.connections.road.remote.ts = ['10.0.5.0/24'];
    const file = join(dir, 'hub.json');
    writeFileSync(file, JSON.stringify(j));
    const r = await up(file, { TSVPN_BRANCH_PSK: SECRET, TSVPN_ROAD_PSK: SECRET });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('/connections/road/pools/0: pool "road" (10.0.5.0/24) overlaps local.ts 10.0.0.0/16');
    expect(r.err).not.toContain(SECRET);
  });

  it('a missing file or one that is not JSON: exit 2 with one line, and the offending line', { timeout: 20_000 }, async () => {
    const missing = await up(join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(`tsvpn: cannot read ${join(dir, 'nope.json')}: no such file\n`);
    const file = join(dir, 'garbled.json');
    writeFileSync(file, '{"name": "left",\n  "local": }\n');
    const garbled = await up(file);
    expect(garbled.code).toBe(2);
    // the message, then the offending line and a caret under the fault
    expect(garbled.err).toBe(`tsvpn: ${file} is not valid JSON: line 2 column 12: expected a value (object, array, "string", number, true, false or null)\n  2 |   "local": }\n    |            ^\n`);
  });
});
