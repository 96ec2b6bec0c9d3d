// Pure helpers of the interop harness: endpoint text from `tsvpn status`, address
// comparison across spellings, and the identities a host gets for its outer address family.
import { describe, expect, it } from 'vitest';

import { parseEndpoint, sameAddr } from '../../interop/lab/expect.js';
import { hostIds } from '../../interop/lab/pki.js';
import { libipsecUnknownSpiDrops } from '../../interop/lab/strongswan.js';

describe('interop lab helpers', () => {
  it('reads IPv4 and bracketed IPv6 endpoints as tsvpn status prints them', () => {
    expect(parseEndpoint('198.51.100.1:500')).toEqual({ addr: '198.51.100.1', port: 500 });
    expect(parseEndpoint('[2001:db8:100::1]:4500')).toEqual({ addr: '2001:db8:100::1', port: 4500 });
    // an unbracketed IPv6 endpoint is ambiguous
    expect(parseEndpoint('2001:db8:100::1:4500')).toBeUndefined();
  });

  it('compares addresses by value, not by spelling', () => {
    expect(sameAddr('2001:db8:100::1', '2001:0DB8:100:0:0:0:0:1')).toBe(true);
    expect(sameAddr('2001:db8:100::1', '2001:db8:100::2')).toBe(false);
    expect(sameAddr('198.51.100.1', '198.51.100.1')).toBe(true);
    expect(sameAddr('198.51.100.1', '::ffff:198.51.100.1')).toBe(false);
  });

  it('gives an IPv4 or an IPv6 address identity after the outer address family', () => {
    const v4 = hostIds('tsvpn', '198.51.100.1');
    expect([v4.ipv4, v4.ipv6]).toEqual(['198.51.100.1', undefined]);
    const v6 = hostIds('tsvpn', '2001:db8:100::1');
    expect([v6.ipv4, v6.ipv6, v6.fqdn]).toEqual([undefined, '2001:db8:100::1', 'tsvpn.example']);
  });

  it('counts the ESP packets kernel-libipsec dropped for one SPI, by charon thread, from its esp=2 log', () => {
    const log = [
      '05:54:35 07[ESP] parsed ESP header with SPI 0a36ce88 [seq 700]',
      '05:54:35 07[ESP] inbound ESP packet does not belong to an installed SA', // ours
      '05:54:35 07[ESP] parsed ESP header with SPI 93554cde [seq 1]',
      '05:54:35 12[ESP] parsed ESP header with SPI 0a36ce88 [seq 701]',
      '05:54:35 16[IKE] IKE_SA deleted',
      '05:54:35 07[ESP] inbound ESP packet does not belong to an installed SA', // another SPI's
      '05:54:35 12[ESP] inbound ESP packet does not belong to an installed SA', // ours, other thread
    ].join('\n');
    expect(libipsecUnknownSpiDrops(log, '0A36CE88')).toBe(2);
    expect(libipsecUnknownSpiDrops(log, '93554cde')).toBe(1);
    expect(libipsecUnknownSpiDrops(log, 'deadbeef')).toBe(0);
  });
});
