// Which local address the tunnel routes carry as source (daemon/host.ts routeSources): one
// of this machine's addresses inside local.ts per family, so the gateway's own traffic to the
// remote network leaves through the tunnel from an address the peer's selectors accept.
import { describe, expect, it } from 'vitest';
import type { PeerConfig } from '../../src/config/types.js';
import { routeSources } from '../../src/daemon/host.js';
import { parseSelector } from '../../src/wire/selectors.js';

const peer = (...ts: string[]) => ({ local: { ts: ts.map(parseSelector) } }) as unknown as PeerConfig;
const HOST = ['127.0.0.1', '::1', '198.51.100.10', 'fe80::1', '10.1.0.1', '10.1.7.7', '2001:db8:1::1'];

describe('routeSources', () => {
  it('picks an address of this host inside a local subnet, one per family', () => {
    expect(routeSources(peer('10.1.0.0/16', '2001:db8:1::/48'), HOST)).toEqual(['10.1.0.1', '2001:db8:1::1']);
  });

  it('prefers a selector that is one address, wherever it is listed', () => {
    expect(routeSources(peer('10.1.0.0/16', '10.1.7.7/32'), HOST)).toEqual(['10.1.7.7']);
  });

  it('never picks loopback or link-local, and gives nothing when no address is inside', () => {
    expect(routeSources(peer('0.0.0.0/0'), ['127.0.0.1', '198.51.100.10'])).toEqual(['198.51.100.10']);
    expect(routeSources(peer('::/0'), ['::1', 'fe80::1'])).toEqual([]);
    expect(routeSources(peer('203.0.113.0/24'), HOST)).toEqual([]);
  });
});
