// The control socket's probe (src/daemon/probe.ts): request checks, which Child SA, the echo round.
import { describe, expect, it } from 'vitest';

import { parseProbeRequest, probeTarget, sendProbe, type ProbeIo } from '../../src/daemon/probe.js';
import { echoReplySeq } from '../../src/ipsec/icmp-echo.js';
import { bytesToIp } from '../../src/wire/ip-text.js';

const cand = { conn: 'left', child: 'left', state: 'INSTALLED', localTs: ['203.0.113.0/25'], remoteTs: ['203.0.113.128/25'], src: ['203.0.113.1'] };

/** An io whose peer answers each request (or only `answer` of them) at once. */
function loopIo(answer = Infinity): ProbeIo & { sent: Uint8Array[] } {
  let watch: ((p: Uint8Array) => void) | undefined;
  const sent: Uint8Array[] = [];
  return {
    sent,
    inject(pkts) {
      for (const p of pkts) {
        sent.push(p);
        if (sent.length > answer) continue;
        const r = new Uint8Array(p);
        r[20] = 0;
        setImmediate(() => watch?.(r));
      }
    },
    watch: (fn) => (watch = fn),
    now: Date.now,
  };
}

describe('probe', () => {
  it('checks the request with the field that is wrong, and fills in defaults', () => {
    expect(parseProbeRequest({})).toEqual({ size: 84, count: 3, timeoutMs: 1000 });
    expect(() => parseProbeRequest({ size: 10 })).toThrow(/size must be an integer from 28/);
    expect(() => parseProbeRequest({ count: 50 })).toThrow(/count/);
    expect(() => parseProbeRequest({ conn: 5 })).toThrow(/conn/);
  });

  it('goes from the host\'s address in local.ts to the first host of remote.ts, or says why not', () => {
    const t = probeTarget([cand], undefined);
    expect('error' in t ? t : { src: bytesToIp(t.src), dst: bytesToIp(t.dst) }).toEqual({ src: '203.0.113.1', dst: '203.0.113.129' });
    const noSrc = probeTarget([{ ...cand, src: [] }], 'left');
    expect('error' in noSrc ? noSrc : bytesToIp(noSrc.src)).toBe('203.0.113.1');
    expect(probeTarget([], undefined)).toEqual({ error: 'no Child SA is installed' });
    expect(probeTarget([cand], 'other')).toEqual({ error: 'connection other has no Child SA installed' });
    expect(probeTarget([{ ...cand, localTs: ['2001:db8::/64'] }], undefined)).toEqual({ error: expect.stringMatching(/one family/) });
  });

  it('counts the replies that come back, with the first round trip', async () => {
    const t = probeTarget([cand], undefined);
    if ('error' in t) throw new Error(t.error);
    const io = loopIo(2);
    const r = await sendProbe(io, t, { size: 1000, count: 3, timeoutMs: 200 }, 1400, 77);
    expect(r).toMatchObject({ src: '203.0.113.1', dst: '203.0.113.129', size: 1000, mtu: 1400, sent: 3, received: 2 });
    expect(io.sent.map((p) => p.length)).toEqual([1000, 1000, 1000]);
    expect(echoReplySeq(io.sent[0]!, 77)).toBeUndefined(); // requests, not replies
  });

  it('sends nothing over the TUN MTU', async () => {
    const t = probeTarget([cand], undefined);
    if ('error' in t) throw new Error(t.error);
    const io = loopIo();
    expect(await sendProbe(io, t, { size: 1500, count: 1, timeoutMs: 100 }, 1400, 1)).toMatchObject({ sent: 0, received: 0, mtu: 1400 });
    expect(io.sent).toEqual([]);
  });
});
