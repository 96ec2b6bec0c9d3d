// The interop matrix, in the order it runs.
import { authCases } from './auth.js';
import { failureCases } from './failures.js';
import { proposalCases } from './proposals.js';
import { topologyCases } from './topology.js';
import type { InteropCase, Role } from './types.js';

export const allCases: InteropCase[] = [...proposalCases, ...authCases, ...topologyCases, ...failureCases];

/** Test/table name of one run, e.g. "psk aes256gcm16-prfsha256-x25519 (tsvpn initiator)". */
export function runName(c: InteropCase, role: Role): string {
  return `${c.name} (tsvpn ${role})`;
}

/** Every (case, role) run whose name contains `pattern` (case-insensitive), or all. */
export function selectRuns(pattern?: string): { c: InteropCase; role: Role; name: string }[] {
  const runs = allCases.flatMap((c) => c.roles.map((role) => ({ c, role, name: runName(c, role) })));
  if (!pattern) return runs;
  const p = pattern.toLowerCase();
  return runs.filter((r) => r.name.toLowerCase().includes(p));
}
