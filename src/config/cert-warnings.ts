// A local certificate that peers will refuse on date alone: expired, not valid yet, or close to
// its end. tsvpn still starts (the clock may be what is wrong), but says so at start and at
// each reload, before a peer answers AUTHENTICATION_FAILED (failure map F3).
import { X509Certificate } from 'node:crypto';

import { pointer } from './errors.js';
import type { ConfigProblem, GatewayConfig } from './types.js';

/** Warn this long before a local certificate's notAfter. */
export const CERT_EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export function certificateWarnings(gw: GatewayConfig, gatewayFile: boolean, now: number): ConfigProblem[] {
  return gw.connections.flatMap((c) => {
    if (c.local.auth.method !== 'pubkey') return [];
    const leaf = new X509Certificate(c.local.auth.certChain[0]!);
    const path = gatewayFile ? `/connections${pointer(c.name)}/local/cert` : '/local/cert';
    const subject = leaf.subject.replace(/\n/g, ', ');
    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    // RFC 5280 §4.1.2.5: a certificate is valid from notBefore through notAfter
    if (now > to) return [{ path, expected: `the certificate ${subject} expired on ${new Date(to).toISOString()}: peers will refuse it (F3); renew it` }];
    if (now < from) return [{ path, expected: `the certificate ${subject} is not valid until ${new Date(from).toISOString()}: peers will refuse it (F3); check this host's clock` }];
    const days = Math.floor((to - now) / DAY_MS);
    if (days < CERT_EXPIRY_WARNING_DAYS) return [{ path, expected: `the certificate ${subject} expires in ${days} day${days === 1 ? '' : 's'} (${new Date(to).toISOString()}): renew it` }];
    return [];
  });
}
