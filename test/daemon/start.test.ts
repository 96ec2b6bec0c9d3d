// startDaemon's checks before it touches the host: a tunnel of the same name that is
// already up is refused by name (its control socket answers), and nothing is opened.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePeerConfig } from '../../src/config/load.js';
import { controlRequest, startControl } from '../../src/daemon/control.js';
import { DaemonError, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';

const root = process.getuid?.() === 0;

const peer = () =>
  parsePeerConfig(
    {
      name: 'dup',
      local: { addr: '198.51.100.1', id: 'left.example', auth: 'psk', ts: ['203.0.113.0/25'] },
      remote: { addr: '198.51.100.2', id: 'right.example', auth: 'psk', ts: ['203.0.113.128/25'] },
      psk: 'start-test-secret-0123456789',
      ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
      child: { proposals: ['aes256gcm16'] },
    },
    tmpdir(),
  );

describe.skipIf(!root)('startDaemon refusals (needs root to get past the privilege check)', () => {
  it('refuses a tunnel that is already up, naming it, and leaves the running one alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-start-'));
    const running = await startControl(dir, 'dup', () => ({ ok: true, status: { name: 'dup' } }));
    try {
      const err = await startDaemon(peer(), { log: silentLogger, controlDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DaemonError);
      expect((err as Error).message).toMatch(/tunnel dup is already up/);
      expect(await controlRequest(running.path, { cmd: 'status' })).toEqual({ ok: true, status: { name: 'dup' } });
    } finally {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
