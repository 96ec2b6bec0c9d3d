// Files that hold secrets, and the secrets themselves, checked the way wg-quick warns about
// a world-accessible wg0.conf: a PSK file, a private key, or the config file itself when it
// holds a PSK inline, readable by group or others is a warning; any of them (or the config
// file in any case) writable by others is refused, since whoever can write it can redirect
// the tunnel; a PSK shorter than MIN_PSK_LENGTH bytes is a warning (RFC 7296 §2.15: a PSK
// "SHOULD be as strong as" a random key; a short one falls to an offline dictionary attack
// on one captured IKE_AUTH). Nothing here reads a secret's bytes: only modes and lengths.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pointer } from './errors.js';
import type { ConfigProblem, GatewayConfig } from './types.js';

/** Shorter PSKs draw a warning (wg-quick has none: its keys are random; strongSwan warns on none). */
export const MIN_PSK_LENGTH = 20;

export interface FileSafety {
  /** Refused: the file can be changed by anyone on the host. */
  problems: ConfigProblem[];
  /** Allowed, but said at start: secrets others can read, short PSKs. */
  warnings: ConfigProblem[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Check the config file `file` and the PSK files and private keys it names (relative to
 * `baseDir`); `json` is the file as parsed.
 */
export function checkFileSafety(json: unknown, file: string, baseDir: string): FileSafety {
  const out: FileSafety = { problems: [], warnings: [] };
  if (!isObject(json)) return out;
  const gateway = 'connections' in json;
  // where PSKs and keys are named: [JSON pointer of the owner, its object]
  const owners: [string, Json][] = [];
  if (gateway) {
    if (isObject(json.connections)) for (const [k, v] of Object.entries(json.connections)) if (isObject(v)) owners.push([`/connections${pointer(k)}`, v]);
    if (isObject(json.secrets)) for (const [k, v] of Object.entries(json.secrets)) if (isObject(v)) owners.push([`/secrets${pointer(k)}`, v]);
  } else owners.push(['', json]);

  let inlineSecret = false;
  for (const [at, o] of owners) {
    if (typeof o.psk === 'string') inlineSecret = true;
    if (isObject(o.psk) && typeof o.psk.file === 'string') secretFile(resolve(baseDir, o.psk.file), `${at}/psk/file`, 'the PSK', out);
    if (typeof o.eapPassword === 'string') inlineSecret = true;
    if (isObject(o.eapPassword) && typeof o.eapPassword.file === 'string') secretFile(resolve(baseDir, o.eapPassword.file), `${at}/eapPassword/file`, 'the EAP password', out);
    const local = o.local;
    if (isObject(local) && typeof local.key === 'string') secretFile(resolve(baseDir, local.key), `${at}/local/key`, 'the private key', out);
  }
  // a gateway's EAP users: user name -> password, inline or in a file
  const eap = gateway && isObject(json.secrets) ? json.secrets.eap : undefined;
  if (isObject(eap)) {
    for (const [user, pw] of Object.entries(eap)) {
      if (typeof pw === 'string') inlineSecret = true;
      if (isObject(pw) && typeof pw.file === 'string') secretFile(resolve(baseDir, pw.file), `/secrets/eap${pointer(user)}/file`, 'an EAP password', out);
    }
  }
  const abs = resolve(file);
  const mode = modeOf(abs);
  if (mode !== undefined && mode & 0o002) out.problems.push({ path: '', expected: `${abs} is writable by every user of this host: anyone could redirect the tunnel (chmod o-w ${abs})` });
  else if (mode !== undefined && inlineSecret && mode & 0o044) out.warnings.push({ path: '', expected: `${abs} holds a PSK or password and is readable by ${mode & 0o004 ? 'every user' : 'its group'} (chmod 600 ${abs}, or move the secret to a file or an environment variable)` });

  return out;
}

/** A warning for each connection whose PSK is shorter than MIN_PSK_LENGTH bytes. */
export function shortPskWarnings(gw: GatewayConfig, gatewayFile: boolean): ConfigProblem[] {
  return gw.connections.flatMap((c) => {
    if (c.local.auth.method !== 'psk' || c.local.auth.psk.length >= MIN_PSK_LENGTH) return [];
    const at = gatewayFile ? `/connections${pointer(c.name)}/psk` : '/psk';
    return [{ path: at, expected: `the PSK is ${c.local.auth.psk.length} bytes: use at least ${MIN_PSK_LENGTH} random characters (openssl rand -base64 24); a short PSK falls to an offline guess from one captured IKE_AUTH` }];
  });
}

function secretFile(abs: string, path: string, what: string, out: FileSafety): void {
  const mode = modeOf(abs);
  if (mode === undefined) return; // unreadable files are the loader's problem, reported there
  if (mode & 0o002) out.problems.push({ path, expected: `${abs} (${what}) is writable by every user of this host (chmod 600 ${abs})` });
  else if (mode & 0o044) out.warnings.push({ path, expected: `${abs} (${what}) is readable by ${mode & 0o004 ? 'every user' : 'its group'} (chmod 600 ${abs})` });
}

function modeOf(abs: string): number | undefined {
  try {
    return statSync(abs).mode & 0o777;
  } catch {
    return undefined;
  }
}
