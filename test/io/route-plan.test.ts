// What tsvpn adds for a tunnel's routes, decided without touching the host: the `ip` commands
// an operator would see, in the order they run, and the keys `ip -j` listings map back to.
import { describe, expect, it } from 'vitest';
import {
  addArgs,
  cidrCovers,
  delArgs,
  entryKey,
  planRoutes,
  RouteError,
  routeKey,
  ruleKey,
  type RoutePlan,
} from '../../src/io/route-plan.js';

const cmds = (plan: RoutePlan): string[] => planRoutes(plan).map((e) => `ip -${e.family} ${addArgs(e).join(' ')}`);

describe('planRoutes', () => {
  it('puts each remote prefix into the tunnel table with the inner source, and a guard for it, behind two lookup rules', () => {
    expect(cmds({ dev: 'tsvpn-a', remote: ['10.2.0.0/16'], peer: '198.51.100.2', src: '10.1.0.1' })).toEqual([
      'ip -4 rule add pref 7481 lookup 7481 protocol 74',
      'ip -4 rule add pref 7482 lookup 7482 protocol 74',
      'ip -4 route add 10.2.0.0/16 dev tsvpn-a proto 74 table 7481 src 10.1.0.1',
      'ip -4 route add unreachable 10.2.0.0/16 proto 74 table 7482',
    ]);
  });

  it('uses the source only for prefixes of its family, and masks host bits', () => {
    expect(cmds({ dev: 't', remote: ['2001:db8:2::1/48'], peer: '198.51.100.2', src: '10.1.0.1' })).toEqual([
      'ip -6 rule add pref 7481 lookup 7481 protocol 74',
      'ip -6 rule add pref 7482 lookup 7482 protocol 74',
      'ip -6 route add 2001:db8:2::/48 dev t proto 74 table 7481',
      'ip -6 route add unreachable 2001:db8:2::/48 proto 74 table 7482',
    ]);
    const both = cmds({ dev: 't', remote: ['10.2.0.0/16', '2001:db8:2::/48'], peer: '198.51.100.2', src: ['10.1.0.1', '2001:db8:1::1'] });
    expect(both.filter((c) => c.includes('src'))).toEqual([
      'ip -4 route add 10.2.0.0/16 dev t proto 74 table 7481 src 10.1.0.1',
      'ip -6 route add 2001:db8:2::/48 dev t proto 74 table 7481 src 2001:db8:1::1',
    ]);
  });

  it('a default selector goes in as two halves, exempting only tsvpn\'s own IKE, NAT-T and ESP to the peer it covers', () => {
    const c = cmds({ dev: 't', remote: ['0.0.0.0/0'], peer: '198.51.100.2', ikePort: 5500 });
    expect(c.slice(0, 3)).toEqual([
      'ip -4 rule add pref 7480 to 198.51.100.2 ipproto udp sport 5500 lookup main protocol 74',
      'ip -4 rule add pref 7480 to 198.51.100.2 ipproto udp sport 4500 lookup main protocol 74',
      'ip -4 rule add pref 7480 to 198.51.100.2 ipproto esp lookup main protocol 74',
    ]);
    expect(c.filter((x) => x.includes('table 7481'))).toEqual([
      'ip -4 route add 0.0.0.0/1 dev t proto 74 table 7481',
      'ip -4 route add 128.0.0.0/1 dev t proto 74 table 7481',
    ]);
    expect(c.filter((x) => x.includes('unreachable'))).toHaveLength(2);
  });

  it('exempts IKE on 500 and 4500 once each, and only for a prefix that covers the peer', () => {
    const covered = cmds({ dev: 't', remote: ['198.51.100.0/24', '198.51.100.0/25'], peer: '198.51.100.2' });
    expect(covered.filter((x) => x.includes('pref 7480'))).toEqual([
      'ip -4 rule add pref 7480 to 198.51.100.2 ipproto udp sport 500 lookup main protocol 74',
      'ip -4 rule add pref 7480 to 198.51.100.2 ipproto udp sport 4500 lookup main protocol 74',
      'ip -4 rule add pref 7480 to 198.51.100.2 ipproto esp lookup main protocol 74',
    ]);
    expect(cmds({ dev: 't', remote: ['203.0.113.0/24', '2001:db8::/32'], peer: '2001:db9::1' }).some((x) => x.includes('pref 7480'))).toBe(false);
  });

  it('the peer itself as the selector (transport mode, host-to-host) is routed, with the exemptions', () => {
    const c = cmds({ dev: 't', remote: ['2001:db8::2/128'], peer: '2001:db8::2', src: '2001:db8::1' });
    expect(c).toContain('ip -6 rule add pref 7480 to 2001:db8::2 ipproto esp lookup main protocol 74');
    expect(c).toContain('ip -6 route add 2001:db8::2/128 dev t proto 74 table 7481 src 2001:db8::1');
  });

  it('::/0 keeps IPv6 link-local on its link', () => {
    const c = cmds({ dev: 't', remote: ['::/0'], peer: '198.51.100.2' });
    expect(c[0]).toBe('ip -6 rule add pref 7480 to fe80::/10 lookup main protocol 74');
    expect(cmds({ dev: 't', remote: ['2001:db8::/32'], peer: '198.51.100.2' }).some((x) => x.includes('fe80'))).toBe(false);
  });

  it('allowLan: a LAN prefix the remote selectors cover stays in main; one they do not cover needs no rule', () => {
    const c = cmds({ dev: 't', remote: ['0.0.0.0/0'], peer: '198.51.100.2', src: '10.3.0.10', bypass: ['198.51.100.0/24', '2001:db8:9::/64'] });
    expect(c.filter((x) => x.includes('lookup main') && !x.includes('ipproto'))).toEqual(['ip -4 rule add pref 7480 to 198.51.100.0/24 lookup main protocol 74']);
    expect(cmds({ dev: 't', remote: ['10.0.0.0/24'], peer: '198.51.100.2', bypass: ['198.51.100.0/24'] }).some((x) => x.includes('pref 7480'))).toBe(false);
  });

  it('rejects a bad device name, peer, source, prefix or port before anything is touched', () => {
    const bad: RoutePlan[] = [
      { dev: 'has space', remote: ['203.0.113.0/24'], peer: '198.51.100.2' },
      { dev: 'a-name-longer-than-15', remote: ['203.0.113.0/24'], peer: '198.51.100.2' },
      { dev: 't', remote: ['203.0.113.0/24'], peer: '%any' },
      { dev: 't', remote: ['203.0.113.0'], peer: '198.51.100.2' },
      { dev: 't', remote: ['203.0.113.0/33'], peer: '198.51.100.2' },
      { dev: 't', remote: ['2001:db8::/129'], peer: '198.51.100.2' },
      { dev: 't', remote: ['203.0.113.0/24'], peer: '198.51.100.2', src: 'inner' },
      { dev: 't', remote: ['203.0.113.0/24'], peer: '198.51.100.2', ikePort: 70000 },
    ];
    for (const plan of bad) expect(() => planRoutes(plan), JSON.stringify(plan)).toThrow(RouteError);
  });
});

describe('entry keys match what ip -j lists', () => {
  it('a tunnel route, a guard and each kind of rule', () => {
    const plan = planRoutes({ dev: 't', remote: ['0.0.0.0/0'], peer: '198.51.100.2', src: '10.1.0.1' });
    const ex = plan[0];
    const tunnel = plan.find((e) => e.kind === 'route' && e.dev === 't')!;
    const guard = plan.find((e) => e.kind === 'route' && !e.dev && e.dst === '128.0.0.0/1')!;
    expect(entryKey(tunnel)).toBe(routeKey(4, 7481, { dst: '0.0.0.0/1', dev: 't', protocol: '74', prefsrc: '10.1.0.1' }));
    expect(entryKey(guard)).toBe(routeKey(4, 7482, { type: 'unreachable', dst: '128.0.0.0/1', protocol: '74' }));
    expect(entryKey(ex)).toBe(ruleKey(4, { priority: 7480, dst: '198.51.100.2', ipproto: 'udp', sport: 500, table: 'main', protocol: '74' }));
    const [ll, lookup] = planRoutes({ dev: 't', remote: ['::/0'], peer: '198.51.100.2' });
    expect(entryKey(ll)).toBe(ruleKey(6, { priority: 7480, dst: 'fe80::', dstlen: 10, table: 'main', protocol: '74' }));
    expect(entryKey(lookup)).toBe(ruleKey(6, { priority: 7481, table: '7481', protocol: '74' }));
    expect(entryKey(tunnel)).not.toBe(routeKey(4, 7481, { dst: '0.0.0.0/1', dev: 'other' }));
  });

  it('deletes name exactly what was added, without the source', () => {
    const [, , route] = planRoutes({ dev: 't', remote: ['10.2.0.0/16'], peer: '198.51.100.2', src: '10.1.0.1' });
    expect(delArgs(route)).toEqual(['route', 'del', '10.2.0.0/16', 'dev', 't', 'proto', '74', 'table', '7481']);
  });

  it('cidrCovers compares prefixes and addresses of one family', () => {
    expect(cidrCovers('0.0.0.0/1', '10.1.2.3')).toBe(true);
    expect(cidrCovers('10.0.0.0/8', '10.0.0.0/8')).toBe(true);
    expect(cidrCovers('10.0.0.0/9', '10.0.0.0/8')).toBe(false);
    expect(cidrCovers('::/1', '10.1.2.3')).toBe(false);
  });
});
