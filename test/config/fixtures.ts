// Shared by the config tests: the example peer.json (a fresh copy each call) and a
// temporary directory for peer files, PSK files and certificates (removed by `remove`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Json = any;

export const EXAMPLE_PSK = 'lab-secret-0123456789';

/** The peer.json of the issue text, verbatim. */
export const example = (): Json => ({
  name: 'left',
  local: { addr: '198.51.100.1', id: 'left.example', auth: 'psk', ts: ['203.0.113.0/25'] },
  remote: { addr: '198.51.100.2', id: 'right.example', auth: 'psk', ts: ['203.0.113.128/25'] },
  psk: EXAMPLE_PSK,
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'], rekey: '4h' },
  child: { proposals: ['aes256gcm16'], mode: 'tunnel', rekey: '1h' },
  start: 'initiate',
});

export interface TempDir {
  dir: string;
  write(name: string, data: string | Uint8Array): string;
  remove(): void;
}

export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-config-'));
  return {
    dir,
    write(name, data) {
      const file = join(dir, name);
      writeFileSync(file, data);
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
