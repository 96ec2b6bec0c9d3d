// `tsvpn down path/to/peer.json` and `tsvpn status path/to/peer.json` (as wg-quick takes a
// config path): the tunnel's name is the file's "name". Only the JSON is read, not the
// secrets or certificates it points at, so this works where `up`'s environment is not set.

import { ConfigError } from '../config/errors.js';
import { defaultGatewayName, isGatewayFile } from '../config/gateway.js';
import { readJsonFile } from '../config/load.js';
import { TUNNEL_NAME } from './args.js';

/** The "name" in a peer or gateway file (or a gateway file's own name), or why there is none usable. */
export function tunnelNameOf(file: string): string | { error: string } {
  let json: unknown;
  try {
    json = readJsonFile(file);
  } catch (e) {
    if (e instanceof ConfigError) return { error: e.problems.map((p) => p.expected).join('\n') };
    throw e;
  }
  const given = typeof json === 'object' && json !== null ? (json as { name?: unknown }).name : undefined;
  // a gateway file without "name" runs under its file's name (src/config/gateway.ts)
  const name = given === undefined && isGatewayFile(json) ? defaultGatewayName(file) : given;
  if (typeof name !== 'string' || !TUNNEL_NAME.test(name)) return { error: `${file} has no usable "name" (letters, digits, "_", ".", "-"; up to 32)` };
  return name;
}
