// What `npm i -g` of the package gives a user: `npm pack` ships only what runs (bin, src,
// the native sources, schema, docs, examples, completions), and installing that tarball on
// a clean prefix, with nothing but the registry (or npm's cache) to fetch from, gives a
// `tsvpn` whose demo passes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { labOk } from './helpers/lab.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

describe.skipIf(!labOk)('npm pack, npm i -g on a clean prefix, tsvpn demo (needs root, namespaces, the registry or npm cache, g++)', () => {
  it('the tarball holds only what runs, and the installed tsvpn runs the demo', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-pack-'));
    try {
      const packed = npm(['pack', ROOT, '--json', '--pack-destination', dir], dir);
      expect(packed.code, packed.err).toBe(0);
      const [info] = JSON.parse(packed.out) as { filename: string; files: { path: string }[] }[];
      const files = info!.files.map((f) => f.path);
      const tops = [...new Set(files.map((f) => f.split('/')[0]))].sort();
      expect(tops).toEqual(['README.md', 'bin', 'contrib', 'docs', 'examples', 'native', 'package.json', 'schema', 'src']);
      expect(files.filter((f) => f.startsWith('native/') && !/^native\/(src\/[a-z_]+\.(cc|h)|binding\.gyp|README\.md)$/.test(f))).toEqual([]);
      expect(files).toContain('docs/tsvpn.1');
      expect(files).toContain('examples/make-certs.sh');

      // the native addon builds against Node's own headers when the distribution ships them (as .ci/run does)
      const nodedir = existsSync('/usr/include/node/node_api.h') ? { npm_config_nodedir: '/usr' } : {};
      const prefix = join(dir, 'prefix');
      const t0 = Date.now();
      // npm 11 names a tarball's install script by its file: spec (a registry install: --allow-scripts=tsvpn,esbuild)
      const tarball = join(dir, info!.filename);
      const installed = npm(['i', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', `--allow-scripts=esbuild,file:${tarball}`, tarball], dir, nodedir);
      const installS = (Date.now() - t0) / 1000;
      expect(installed.code, installed.out + installed.err).toBe(0);
      expect(installed.err).not.toMatch(/install-scripts/); // the two install scripts are named on the command line
      console.log(`npm i -g of the tarball: ${installS.toFixed(1)} s`);

      const bin = join(prefix, 'bin', 'tsvpn');
      const help = spawnSync(bin, ['up', '--help'], { cwd: '/', encoding: 'utf8' });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^usage: tsvpn up <peer\.json\|gateway\.json>/);

      const p = spawn(bin, ['demo'], { cwd: '/' });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      const code = await new Promise((r) => p.on('close', r));
      expect(code, out).toBe(0);
      expect(out).toMatch(/3 sent, 3 received/);
      expect(out).toMatch(/demo passed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
