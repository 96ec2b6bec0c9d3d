// Test helper: runs the openssl CLI in a temporary directory that the caller removes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Scratch {
  dir: string;
  path(name: string): string;
  openssl(...args: string[]): string;
  write(name: string, data: string | Uint8Array): string;
  read(name: string): Buffer;
  remove(): void;
}

export function scratch(): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-auth-'));
  return {
    dir,
    path: (name) => join(dir, name),
    openssl: (...args) =>
      execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    write(name, data) {
      writeFileSync(join(dir, name), data);
      return join(dir, name);
    },
    read: (name) => readFileSync(join(dir, name)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** openssl config that makes `req` choose PrintableString where it fits (as strongSwan does). */
export const PRINTABLE_REQ_CONF = `[req]
distinguished_name = dn
string_mask = default
prompt = no
[dn]
`;
