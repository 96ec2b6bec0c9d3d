// The man page and the shell completions are rendered from src/cli/usage.ts, the table
// `--help` prints: the committed files must be what it renders now, and the bash
// completion must offer the commands, a command's options and the running tunnels.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { version } from '../../src/cli/main.js';
import { COMMANDS, commandUsage } from '../../src/cli/usage.js';
import { generatedFiles } from '../../src/cli/usage-docs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASH = join(ROOT, 'contrib/completions/tsvpn.bash');

/** What bash would offer after `words` (the last one being completed). */
function complete(words: string[], controlDir: string): string[] {
  const script = `source ${JSON.stringify(BASH)}; COMP_WORDS=(tsvpn ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _tsvpn; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script], { cwd: controlDir, encoding: 'utf8', env: { ...process.env, TSVPN_CONTROL_DIR: controlDir } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '').sort();
}

describe('generated man page and completions', () => {
  it.each(generatedFiles(version()).map((f) => [f.path, f.text]))('%s is up to date with src/cli/usage.ts (else: npx tsx src/cli/write-docs.ts)', (path, text) => {
    expect(readFileSync(join(ROOT, path), 'utf8')).toBe(text);
  });

  it('the man page carries every command, option and example --help shows', () => {
    const man = readFileSync(join(ROOT, 'docs/tsvpn.1'), 'utf8').replace(/\\-/g, '-');
    for (const c of COMMANDS) {
      expect(commandUsage(c)).toContain(c.example.cmd);
      if (c.name === 'help') continue;
      expect(man).toContain(c.example.cmd);
      for (const o of c.options) expect(man).toContain(o.flags.join(', '));
    }
  });

  it('bash completes commands, options, and the tunnels with a socket in the control directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-compl-'));
    const srv = createServer();
    try {
      await new Promise<void>((r) => srv.listen(join(dir, 'left-gw.sock'), r));
      expect(complete([''], dir)).toEqual(['--help', '--version', 'demo', 'diagnose', 'down', 'events', 'help', 'metrics', 'reload', 'status', 'up']);
      expect(complete(['st'], dir)).toEqual(['status']);
      expect(complete(['status', '--'], dir)).toEqual(['--help', '--json']);
      expect(complete(['down', 'le'], dir)).toEqual(['left-gw']);
      expect(complete(['demo', '--k'], dir)).toEqual(['--keep']);
      expect(complete(['up', '--log'], dir)).toEqual(['--log-format', '--log-level']);
      expect(complete(['up', '--log-level', ''], dir)).toEqual(['debug', 'error', 'info', 'warn']);
      expect(complete(['up', 'x.json', '--log-format', 'j'], dir)).toEqual(['json']);
      expect(complete(['events', 'le'], dir)).toEqual(['left-gw']);
    } finally {
      await new Promise((r) => srv.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(spawnSync('zsh', ['--version']).error !== undefined)('zsh (when installed) parses the zsh completion', () => {
    const r = spawnSync('zsh', ['-n', join(ROOT, 'contrib/completions/_tsvpn')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});
