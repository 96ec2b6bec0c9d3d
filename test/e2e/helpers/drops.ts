// Drop counters that mean "this packet found no SA": what a broken make-before-break rekey
// (RFC 7296 §2.8: install the new SA before deleting the old one) shows in `tsvpn status`.
// Shared by the tsvpn<->tsvpn and tsvpn<->strongSwan rekey-under-load tests.
import type { TunnelStatus } from '../../../src/daemon/status.js';

/** Drop reasons that mean "no SA for this packet": the ones a broken make-before-break shows. */
export const NO_SA_REASONS = ['unknown-spi', 'no-sa', 'no-policy'] as const;

/** SA-missing drops counted since `before` (a status taken once the tunnel was up). */
export function noSaDrops(s: TunnelStatus, before?: TunnelStatus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [dir, d] of Object.entries(s.drops) as [keyof TunnelStatus['drops'], Record<string, number>][]) {
    for (const r of NO_SA_REASONS) {
      const n = (d[r] ?? 0) - (before?.drops[dir][r] ?? 0);
      if (n > 0) out[`${dir}:${r}`] = n;
    }
  }
  return out;
}
