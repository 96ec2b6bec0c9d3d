// ESP over a raw IP socket (protocol 50) between two lab hosts (network namespaces joined
// by a veth). Node cannot setns(2), so each end runs in a child under `ip netns exec`
// (test/io/helpers/raw-esp-child.ts). Every test removes what it made, also on failure.

import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { loadNative, toIoError } from '../../src/io/native.js';
import { createTwoHosts, ip, netnsSupport, nsExec } from '../../src/io/netns.js';
import { IoError, openRawEsp } from '../../src/io/raw-esp.js';
import { espPacket, TEST_SPI } from './helpers/raw-esp-child.js';
import { hasSetpriv, repoRoot, withNetns } from './helpers/netns.js';

const ok = netnsSupport().ok;
const needs = '(needs root and /dev/net/tun)';
const child = resolve(repoRoot, 'test/io/helpers/raw-esp-child.ts');

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  result: any;
  stderr: string;
}

function resultOf(stdout: string): any {
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return line ? JSON.parse(line.slice(7)) : undefined;
}

function childArgs(ns: string, args: string[], prefix: string[] = []): string[] {
  return ['netns', 'exec', ns, ...prefix, process.execPath, '--import', 'tsx', child, ...args];
}

function runChild(ns: string, args: string[], prefix: string[] = []): Run {
  const r = spawnSync('ip', childArgs(ns, args, prefix), { cwd: repoRoot, encoding: 'utf8', timeout: 25_000 });
  return { status: r.status, signal: r.signal, result: resultOf(r.stdout ?? ''), stderr: r.stderr ?? '' };
}

/** A receiving child: `ready` once its reader runs, `done` with its report when it exits. */
function startReceiver(ns: string, local: string, want: number): { ready: Promise<void>; done: Promise<Run> } {
  const p = spawn('ip', childArgs(ns, ['recv', local, String(want)]), { cwd: repoRoot });
  let out = '';
  let err = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('READY\n')) onReady();
  });
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<Run>((res) =>
    p.on('close', (status, signal) => {
      onReady(); // never leave the test waiting on a child that died early
      res({ status, signal, result: resultOf(out), stderr: err });
    }),
  );
  return { ready, done };
}

/** ICMP errors sent and received in a namespace: IPv4 destination unreachable, ICMPv6 parameter problem. */
function icmpCounters(ns: string): { out4: number; in4: number; out6: number; in6: number } {
  const snmp = nsExec(ns, 'cat', ['/proc/net/snmp']).stdout as string;
  const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Icmp:'));
  const names = head.split(/\s+/);
  const values = vals.split(/\s+/).map(Number);
  const v4 = (n: string) => values[names.indexOf(n)];
  const snmp6 = nsExec(ns, 'cat', ['/proc/net/snmp6']).stdout as string;
  const v6 = (n: string) => Number(new RegExp(`^${n}\\s+(\\d+)`, 'm').exec(snmp6)?.[1]);
  return {
    out4: v4('OutDestUnreachs'),
    in4: v4('InDestUnreachs'),
    out6: v6('Icmp6OutParmProblems'),
    in6: v6('Icmp6InParmProblems'),
  };
}

describe('openRawEsp argument checks (no privilege needed)', () => {
  it('rejects a bad address and out-of-range sizes before opening anything', () => {
    expect(() => openRawEsp({ address: 'peer.example' })).toThrow(IoError);
    expect(() => openRawEsp({ address: 'peer.example' })).toThrow(/"peer.example" is not an IPv4 or IPv6 address/);
    expect(() => openRawEsp({ address: '127.0.0.1', batch: 0 })).toThrow(/batch must be an integer from 1 to 1024/);
    expect(() => openRawEsp({ address: '127.0.0.1', slabs: 65 })).toThrow(/slabs must be an integer from 2 to 64/);
    expect(() => openRawEsp({ address: '127.0.0.1', maxPacket: 70000 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
    );
  });

  it('has the addon check its own arguments too', () => {
    const { RawEspSocket } = loadNative() as any;
    const caught = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return toIoError(e);
      }
      throw new Error('expected an exception');
    };
    expect(caught(() => new RawEspSocket('127.0.0.1', 64, 4, 0, 0, 0))).toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: 'maxPacket must be an integer from 1 to 65535',
    });
    expect(caught(() => new RawEspSocket(5, 64, 4, 1500, 0, 0)).message).toBe('the local address must be a string');
  });
});

describe.skipIf(!ok)(`raw ESP between two namespaces ${needs}`, () => {
  it.each([4, 6] as const)('IPv%i: 100 ESP packets sent in one batch, and one larger than the link, arrive intact, in order, from the sender; the kernel sends no ICMP back', async (family) => {
    // The 101st packet, 3000 bytes on a 1500-byte link, is fragmented by the sending
    // kernel and reassembled by the receiving one: the socket sees it whole.
    const hosts = createTwoHosts({ prefix: 'tsvpn-esp' });
    try {
      const { left, right } = hosts;
      let [l, r] = [left.outer, right.outer];
      if (family === 6) {
        [l, r] = ['2001:db8:1::1', '2001:db8:1::2'];
        ip(['addr', 'add', `${l}/64`, 'dev', left.dev, 'nodad'], left.ns);
        ip(['addr', 'add', `${r}/64`, 'dev', right.dev, 'nodad'], right.ns);
      }
      for (const ns of [left.ns, right.ns]) {
        // per-namespace: no ICMP rate limit, so every error the kernel means to send is counted
        const set = nsExec(ns, 'sh', ['-c', 'echo 0 > /proc/sys/net/ipv4/icmp_ratelimit && echo 0 > /proc/sys/net/ipv6/icmp/ratelimit']);
        expect(set.status, String(set.stderr)).toBe(0);
      }
      const sent = (c: ReturnType<typeof icmpCounters>) => (family === 4 ? c.out4 : c.out6);
      const got = (c: ReturnType<typeof icmpCounters>) => (family === 4 ? c.in4 : c.in6);

      // Control: with no socket for protocol 50 the right host answers ESP with ICMP
      // (RFC 1122 §3.2.2.1 protocol unreachable; RFC 4443 §3.4 unrecognized Next Header).
      const c0 = icmpCounters(right.ns);
      const control = runChild(left.ns, ['send', l, r, '1000', '3']);
      expect(control.result, control.stderr).toMatchObject({ sent: 3, family });
      const c1 = await until(() => icmpCounters(right.ns), { timeout: 2000, interval: 20, what: 'an ICMP error from the right host', done: (c) => sent(c) !== sent(c0) });
      expect(sent(c1) - sent(c0)).toBeGreaterThan(0);

      // With the raw socket open on the right: 100 packets of different sizes in one call.
      const rx = startReceiver(right.ns, r, 101);
      await rx.ready;
      const r0 = icmpCounters(right.ns);
      const l0 = icmpCounters(left.ns);
      const tx = runChild(left.ns, ['send', l, r, '0', '100']);
      const big = runChild(left.ns, ['send', l, r, '100', '1', '3000']);
      const rxRun = await rx.done;
      await sleep(200); // room for any ICMP the kernel might still send: none must come, so time has to pass
      const r1 = icmpCounters(right.ns);
      const l1 = icmpCounters(left.ns);

      const expected = Array.from({ length: 100 }, (_, i) => espPacket(i));
      const bytes = expected.reduce((n, p) => n + p.length, 0);
      expect(new Set(expected.map((p) => p.length)).size).toBeGreaterThan(50);
      expect(tx.result, tx.stderr).toMatchObject({ sent: 100, stats: { txPackets: 100, txBytes: bytes, txErrors: 0 } });
      expect(big.result, big.stderr).toMatchObject({ sent: 1, stats: { txPackets: 1, txBytes: 3000, txErrors: 0 } });
      expected.push(espPacket(100, 3000));

      expect(rxRun.status, rxRun.stderr).toBe(0);
      const res = rxRun.result;
      expect(res.family).toBe(family);
      expect(res.packets).toHaveLength(101);
      res.packets.forEach((p: { src: string; b64: string }, i: number) => {
        const data = Buffer.from(p.b64, 'base64');
        expect(data.readUInt32BE(0), `packet ${i}: SPI first, no IP header`).toBe(TEST_SPI);
        expect(data.readUInt32BE(4), `packet ${i} in order`).toBe(i);
        expect(data.equals(expected[i]), `packet ${i} intact`).toBe(true);
        expect(p.src).toBe(l);
      });
      expect(Math.max(...res.batches)).toBeLessThanOrEqual(16);
      expect(res.stats).toMatchObject({ rxPackets: 101, rxBytes: bytes + 3000, rxErrors: 0, rxBatches: res.batches.length });

      // The socket took the packets: the right host sent no ICMP error, the left got none.
      expect(sent(r1) - sent(r0)).toBe(0);
      expect(got(l1) - got(l0)).toBe(0);
    } finally {
      hosts.destroy();
    }
  });

  it('rejects bad send arguments with typed errors and names a missing local address', () => {
    const run = withNetns((ns) => runChild(ns, ['errors', '127.0.0.1', '::1', '198.51.100.9']));
    expect(run.status, run.stderr).toBe(0);
    const r = run.result;
    expect(r.absent).toMatchObject({ isIoError: true, code: 'EADDRNOTAVAIL', syscall: 'bind' });
    expect(r.absent.message).toBe(
      'cannot bind raw ESP socket to 198.51.100.9 (EADDRNOTAVAIL): the address is not assigned to a local interface',
    );
    expect(r.wrongFamily).toMatchObject({ code: 'ERR_INVALID_ARG', message: 'cannot send to IPv6 ::1 from raw ESP socket on 127.0.0.1' });
    expect(r.notAddress).toMatchObject({ code: 'ERR_INVALID_ARG', message: "'peer.example' is not an IPv4 or IPv6 address" });
    expect(r.countTooLarge.message).toMatch(/count must be an integer/);
    expect(r.outside.message).toMatch(/packet 0 \(offset \d+, length 8\) lies outside the buffer/);
    expect(r.notTyped).toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(r.zero).toEqual({ returned: 0 });
    expect(r.closedFlag).toBe(true);
    expect(r.afterClose).toMatchObject({ code: 'ERR_CLOSED', message: 'raw ESP socket on 127.0.0.1 is closed' });
    expect(r.statsAfterClose).toMatchObject({ txPackets: 0, txErrors: 0 });
  });

  it('closes cleanly while idle, inside its callback, and under a stream of packets; the process then exits by itself', () => {
    const run = withNetns((ns) => runChild(ns, ['closing', '127.0.0.1', '127.0.0.2']));
    expect(run.signal).toBeNull();
    expect(run.status, run.stderr).toBe(0);
    const r = run.result;
    expect(r.timeout).toBeUndefined();
    expect(r.idleCalls).toBe(0);
    expect(r.idleCloseMs).toBeLessThan(1000); // close() woke the reader from poll()
    expect(r.insideCalls).toBe(1); // batches queued before close() are not delivered
    expect(r.busyCalls).toBeGreaterThan(0);
    expect(r.callsAfterClose).toBe(0);
    expect(r.busyCloseMs).toBeLessThan(1000);
    expect(r.txPackets).toBeGreaterThan(64);
  });

  it.skipIf(!hasSetpriv)('says a raw ESP socket needs root or CAP_NET_RAW', () => {
    const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
    const run = withNetns((ns) => runChild(ns, ['open', '127.0.0.1'], drop));
    expect(run.result, run.stderr).toMatchObject({ isIoError: true, code: 'EPERM', syscall: 'socket' });
    expect(run.result.message).toBe(
      'cannot open a raw ESP socket on 127.0.0.1 (EPERM): opening a raw ESP socket needs root or CAP_NET_RAW',
    );
  });
});

describe.skipIf(!ok)(`lab hygiene ${needs}`, () => {
  it('leaves no namespace of its own behind', () => {
    const ours = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '')
      .split('\n')
      .filter((l) => l.startsWith('tsvpn-esp-'));
    expect(ours).toEqual([]);
  });
});
