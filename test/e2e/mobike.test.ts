// MOBIKE (RFC 4555), tsvpn client against a tsvpn gateway: under a 10 ms ping through the
// tunnel, the client's outer veth is readdressed (the old address deleted, a new one in the
// same subnet added). The client notices (ip monitor), reopens its sockets there and sends
// UPDATE_SA_ADDRESSES; the gateway follows. The IKE SPIs stay the same on both ends and the
// ping gets answers again within 2 s.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { until } from '../../interop/lab/wait.js';
import { labOk, pingAcrossReaddress, withPair } from './helpers/lab.js';

const NEW_OUTER = '198.51.100.11';

describe.skipIf(!labOk)('MOBIKE: the client readdresses its outer veth (needs root, /dev/net/tun)', () => {
  it('the IKE SPIs stay, the gateway follows (logged), and a 10 ms ping is answered again within 2 s', { timeout: 60_000 }, async () => {
    await withPair({ names: { left: 'mob-l', right: 'mob-r' } }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const before = { l: await pair.status('left'), r: await pair.status('right') };
      expect(before.l.ikeSas.map((sa) => sa.mobike)).toEqual([true]);
      expect(before.r.ikeSas.map((sa) => sa.mobike)).toEqual([true]);
      const spis = (s: typeof before.l) => s.ikeSas.map((sa) => `${sa.localSpi}/${sa.remoteSpi}`);

      const g = await pingAcrossReaddress(left, NEW_OUTER, left.inner, right.inner);
      const r = await until(() => pair.status('right'), { timeout: 5000, interval: 100, what: 'the gateway to follow the client', done: (s) => s.ikeSas.some((sa) => sa.remote === `${NEW_OUTER}:500`) });
      expect(g.answeredAfter, g.out.slice(-2000)).toBeGreaterThan(100);
      expect(g.longestGap, `longest gap between answers ${g.longestGap.toFixed(3)} s`).toBeLessThan(2);

      const l = await pair.status('left');
      expect(spis(l)).toEqual(spis(before.l));
      expect(spis(r)).toEqual(spis(before.r));
      expect(l.ikeSas[0]!.local).toBe(`${NEW_OUTER}:500`);
      expect(readFileSync(pair.right.logFile, 'utf8')).toContain(`peer moved from ${left.outer}:500 to ${NEW_OUTER}:500 (MOBIKE)`);
      console.log(`MOBIKE e2e: longest gap between ping answers ${(g.longestGap * 1000).toFixed(0)} ms, ${g.answeredAfter} answered after the move`);
    });
  });

  it('without MOBIKE (mobike: false on a %any gateway) the client reopens its sockets and reauthenticates from the new address, and says so', { timeout: 60_000 }, async () => {
    // the gateway takes the client from any address (a fixed remote.addr would refuse the new IKE SA from the new one)
    const edit = (side: string, p: Record<string, unknown>): void => {
      if (side !== 'right') return;
      p.mobike = false;
      p.remote = { ...(p.remote as object), addr: '%any' };
    };
    await withPair({ names: { left: 'mob0-l', right: 'mob0-r' }, edit }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const before = await pair.status('left');
      expect(before.ikeSas.map((sa) => sa.mobike)).toEqual([false]);
      const g = await pingAcrossReaddress(left, NEW_OUTER, left.inner, right.inner);
      expect(g.answeredAfter, g.out.slice(-2000)).toBeGreaterThan(0);
      const l = await until(() => pair.status('left'), { timeout: 10_000, interval: 200, what: 'one IKE SA from the new address', done: (s) => s.ikeSas.length === 1 && s.ikeSas[0]!.local === `${NEW_OUTER}:500` && s.ikeSas[0]!.children.some((c) => c.state === 'INSTALLED') });
      expect(l.ikeSas[0]!.localSpi).not.toBe(before.ikeSas[0]!.localSpi);
      expect(readFileSync(pair.left.logFile, 'utf8')).toContain('MOBIKE was not negotiated');
      console.log(`no MOBIKE: longest gap between ping answers ${(g.longestGap * 1000).toFixed(0)} ms`);
    });
  });
});
