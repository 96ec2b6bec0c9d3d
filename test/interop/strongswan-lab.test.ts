// The strongSwan launcher on its own: two charons (kernel-libipsec) in two lab namespaces
// establish a PSK tunnel, ping passes between the inner addresses, and both sides' views
// (swanctl --list-sas) agree on SPIs, algorithms, selectors and moving counters. This proves
// the harness independently of tsvpn. Needs root and strongSwan (see interop/README.md).

import { describe, expect, it } from 'vitest';

import { createTwoHosts, listNs, netnsSupport, nsExec } from '../../src/io/netns.js';
import { hasInstalled, startStrongswan, strongswanSupport, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { parseListSas } from '../../interop/lab/swanctl-parse.js';

const net = netnsSupport();
const ss = strongswanSupport();
const ok = net.ok && ss.ok;
const why = !net.ok ? net.why : !ss.ok ? ss.why : '';

describe('swanctl --list-sas --pretty parser', () => {
  it('reads DN identities with commas, lists and nested child SAs', () => {
    const text = [
      'list-sa event {',
      '  gw {',
      '    uniqueid = 3',
      '    state = ESTABLISHED',
      '    local-id = C=CH, O=Lab, CN=right.example',
      '    nat-fake = yes',
      '    child-sas {',
      '      net-4 {',
      '        name = net',
      '        state = INSTALLED',
      '        bytes-in = 168',
      '        local-ts = [',
      '          203.0.113.128/25',
      '          203.0.113.0/32[tcp/443]',
      '        ]',
      '      }',
      '    }',
      '  }',
      '}',
      'list-sas reply {',
      '}',
    ].join('\n');
    const [sa] = parseListSas(text);
    expect(sa.localId).toBe('C=CH, O=Lab, CN=right.example');
    expect(sa.nat.fake).toBe(true);
    expect(sa.children[0]).toMatchObject({ name: 'net', state: 'INSTALLED', bytesIn: 168, localTs: ['203.0.113.128/25', '203.0.113.0/32[tcp/443]'] });
  });

  it('rejects unbalanced output with a typed error', () => {
    expect(() => parseListSas('list-sa event {\n  gw {\n')).toThrow(/unterminated/);
  });
});

describe.skipIf(!ok)(`two strongSwan charons in namespaces ${why ? `(skipped: ${why})` : '(needs root and strongSwan)'}`, () => {
  it('establish a PSK tunnel and carry ping both ways over ipsec0', async () => {
    const hosts = createTwoHosts({ prefix: 'tsvss' });
    const peers: Strongswan[] = [];
    try {
      const { left, right } = hosts;
      const common = { proposals: ['aes256gcm16-prfsha256-x25519'], psk: 'lab-psk-for-the-launcher-test' };
      const confFor = (me: typeof left, them: typeof left, meName: string, themName: string) =>
        swanctlConf({
          ...common,
          name: 'lab',
          localAddrs: me.outer,
          remoteAddrs: them.outer,
          local: { auth: 'psk', id: meName },
          remote: { auth: 'psk', id: themName },
          child: { name: 'net', localTs: [`${me.inner}/32`], remoteTs: [`${them.inner}/32`], espProposals: ['aes256gcm16'] },
        });
      const t0 = Date.now();
      peers.push(await startStrongswan({ ns: right.ns, name: 'right', conf: confFor(right, left, 'right.example', 'left.example') }));
      peers.push(await startStrongswan({ ns: left.ns, name: 'left', conf: confFor(left, right, 'left.example', 'right.example') }));
      const startMs = Date.now() - t0;
      const [r, l] = peers;

      const init = await l.initiate('net');
      expect(init.ok, `${init.output}\n${l.log()}\n${r.log()}`).toBe(true);
      const lSas = await l.waitFor((s) => hasInstalled(s, 'net'), 5000, 'left INSTALLED');
      const rSas = await r.waitFor((s) => hasInstalled(s, 'net'), 5000, 'right INSTALLED');

      const [lSa, rSa] = [lSas[0], rSas[0]];
      expect(lSa).toMatchObject({ state: 'ESTABLISHED', initiator: true, localId: 'left.example', remoteId: 'right.example', encrAlg: 'AES_GCM_16', encrKeysize: 256, prfAlg: 'PRF_HMAC_SHA2_256', dhGroup: 'CURVE_25519' });
      expect(rSa.initiator).toBe(false);
      expect(rSa.initiatorSpi).toBe(lSa.initiatorSpi);
      expect(rSa.responderSpi).toBe(lSa.responderSpi);
      const [lc, rc] = [lSa.children[0], rSa.children[0]];
      expect(lc.spiIn).toBe(rc.spiOut);
      expect(lc.spiOut).toBe(rc.spiIn);
      expect(lc.localTs).toEqual(['203.0.113.1/32']);
      expect(lc.remoteTs).toEqual(['203.0.113.129/32']);
      // kernel-libipsec always UDP-encapsulates (LAB.md), hence the fake NAT
      expect(lc.encap).toBe(true);

      const ping = nsExec(left.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', left.inner, right.inner]);
      expect(ping.status, `${ping.stdout}${ping.stderr}`).toBe(0);
      const after = await r.waitFor((s) => (s[0]?.children[0]?.packetsIn ?? 0) >= 3, 3000, 'right counters');
      expect(after[0].children[0].packetsIn).toBeGreaterThanOrEqual(3);
      expect(after[0].children[0].packetsOut).toBeGreaterThanOrEqual(3);

      const term = await l.terminate('lab');
      expect(term.ok, term.output).toBe(true);
      await r.waitFor((s) => s.length === 0, 5000, 'right to drop the SA after Delete');
      expect(startMs).toBeLessThan(5000);
    } finally {
      for (const p of peers) await p.stop();
      hosts.destroy();
    }
    expect(listNs().filter((n) => n.startsWith('tsvss-'))).toEqual([]);
  }, 60_000);
});
