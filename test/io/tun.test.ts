// The TUN device through the addon, in throw-away network namespaces: the kernel answers
// hand-built ICMP echo requests written into the device, and the replies are read back in
// batches. Each test makes its own namespace and deletes it, even on failure.

import { describe, expect, it } from 'vitest';

import { IoError, openTun, validateTunName } from '../../src/io/tun.js';
import { echoRequest, internetChecksum, parseEchoReply } from './helpers/icmp.js';
import { canUseTun, hasSetpriv, runChild, withNetns } from './helpers/netns.js';

const needs = '(needs root and /dev/net/tun)';

describe('ICMP test helper', () => {
  it('computes the RFC 1071 §3 example checksum', () => {
    // RFC 1071 §3 "Numerical Examples": 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (one's complement).
    const bytes = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(internetChecksum(bytes)).toBe(~0xddf2 & 0xffff);
  });

  it('builds echo requests whose headers verify and that parse as what was sent', () => {
    const req = echoRequest('192.0.2.2', '192.0.2.1', 7, 9, Uint8Array.of(1, 2, 3));
    expect(internetChecksum(req, 0, 20)).toBe(0); // a correct IPv4 header sums to 0xffff
    expect(internetChecksum(req, 20)).toBe(0);
    const asReply = Uint8Array.from(req);
    asReply[20] = 0; // type 0 = echo reply (checksum now off by 8 << 8)
    const r = parseEchoReply(asReply);
    expect(r).toMatchObject({ src: '192.0.2.2', dst: '192.0.2.1', id: 7, seq: 9, ipChecksumOk: true });
    expect(r?.icmpChecksumOk).toBe(false);
    expect(Array.from(r?.payload ?? [])).toEqual([1, 2, 3]);
  });
});

describe('openTun argument checks (no privilege needed)', () => {
  it('rejects a name longer than IFNAMSIZ with a clear IoError', () => {
    expect(() => openTun({ name: 'a-very-long-tun-name' })).toThrow(IoError);
    expect(() => openTun({ name: 'a-very-long-tun-name' })).toThrow(/at most 15 \(IFNAMSIZ\)/);
    expect(() => validateTunName('a-very-long-tun-name')).toThrow(
      expect.objectContaining({ code: 'ERR_TUN_NAME' }),
    );
  });

  it('rejects names the kernel would refuse, and bad MTU or batch sizes', () => {
    for (const name of ['', '.', '..', 'a/b', 'a b', 'a:b', 'tun%d%d']) {
      expect(() => validateTunName(name), name).toThrow(/invalid TUN device name/);
    }
    expect(() => validateTunName('tsvpn0')).not.toThrow();
    expect(() => openTun({ name: 'tsvpn0', mtu: 67 })).toThrow(/mtu must be an integer from 68 to 65535/);
    expect(() => openTun({ name: 'tsvpn0', batch: 0 })).toThrow(/batch must be an integer/);
    expect(() => openTun({ name: 'tsvpn0', slabs: 1 })).toThrow(/slabs must be an integer/);
  });
});

describe('TUN device in a network namespace', () => {
  it.skipIf(!canUseTun)(`answers 1 and then 100 echo requests written in one batch ${needs}`, () => {
    const run = withNetns((ns) => runChild(ns, 'echo'));
    expect(run.status, run.stderr).toBe(0);
    const r = run.result as any;
    expect(r.name).toBe('tsvpn-t0');
    expect(r.mtu).toBe('1400'); // SIOCSIFMTU took effect
    expect(r.upByOpen).toBe(true); // SIOCSIFFLAGS brought it up before any `ip link set up`
    // One request: the kernel's reply comes back from 192.0.2.1 to 192.0.2.2 with our payload.
    expect(r.wroteOne).toBe(1);
    expect(r.single).toEqual({
      seq: 1000, received: true, src: '192.0.2.1', dst: '192.0.2.2', payloadOk: true, ipOk: true, icmpOk: true,
    });
    // 100 requests in one writeBatch call: 100 correct replies, read in batches of at most 16.
    expect(r.wroteMany).toBe(100);
    expect(r.batch).toHaveLength(100);
    for (const b of r.batch) {
      expect(b).toEqual({
        seq: b.seq, received: true, src: '192.0.2.1', dst: '192.0.2.2', payloadOk: true, ipOk: true, icmpOk: true,
      });
    }
    expect(r.maxBatch).toBeLessThanOrEqual(16);
    expect(r.maxBatch).toBeGreaterThanOrEqual(1);
    // Stats: 101 requests written, their bytes, no errors; at least 101 packets read (the
    // kernel may add its own, e.g. IPv6 router solicitations) in fewer batches than packets.
    const s = r.statsAfterEcho;
    expect(s.txPackets).toBe(101);
    expect(s.txErrors).toBe(0);
    expect(s.rxPackets).toBe(101 + r.others);
    expect(s.rxBatches).toBeGreaterThanOrEqual(Math.ceil(s.rxPackets / 16));
    expect(s.rxBatches).toBeLessThanOrEqual(s.rxPackets);
    expect(s.rxBytes).toBeGreaterThan(s.txBytes - 1); // echo replies are as long as the requests
  });

  it.skipIf(!canUseTun)(`counts a packet the kernel refuses instead of throwing ${needs}`, () => {
    const run = withNetns((ns) => runChild(ns, 'echo'));
    const r = run.result as any;
    expect(r.wroteMixed).toBe(1); // [not-IP, echo request]: only the request is accepted
    expect(r.mixedReplied).toBe(true);
    expect(r.statsFinal.txErrors).toBe(1);
    expect(r.outside).toMatchObject({ isIoError: true, code: 'ERR_INVALID_ARG' });
    expect(r.outside.message).toMatch(/lies outside the buffer/);
    expect(r.goneAfterClose).toBe(true); // close() removes the device
  });

  it.skipIf(!canUseTun)(`names the cause when the name is taken or the device is closed ${needs}`, () => {
    const run = withNetns((ns) => runChild(ns, 'errors'));
    expect(run.status, run.stderr).toBe(0);
    const r = run.result as any;
    expect(r.otherType).toMatchObject({ isIoError: true, code: 'EINVAL', syscall: 'ioctl(TUNSETIFF)' });
    expect(r.otherType.message).toMatch(/cannot create TUN device 'lo' \(EINVAL\): .*another type/);
    expect(r.busy).toMatchObject({ code: 'EBUSY' });
    expect(r.busy.message).toMatch(/already open/);
    expect(r.afterClose).toMatchObject({ code: 'ERR_CLOSED' });
    expect(r.kernelName).toBe('tsvpn0'); // "tsvpn%d": the kernel picks the number
  });

  it.skipIf(!canUseTun || !hasSetpriv)(`says a TUN device needs root or CAP_NET_ADMIN ${needs}`, () => {
    const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
    const run = withNetns((ns) => runChild(ns, 'open', drop));
    expect(run.result, run.stderr).toMatchObject({ isIoError: true, code: 'EPERM' });
    expect((run.result as any).message).toBe(
      "cannot create TUN device 'tsvpn-p0' (EPERM): creating a TUN device needs root or CAP_NET_ADMIN",
    );
  });

  it.skipIf(!canUseTun)(`reports a device deleted under the reader through onError ${needs}`, () => {
    const run = withNetns((ns) => runChild(ns, 'deleted'));
    expect(run.status, run.stderr).toBe(0);
    expect(run.result).toEqual({
      isIoError: true,
      code: 'EBADFD',
      syscall: 'read',
      message: 'reading packets failed; the reader has stopped (EBADFD): the TUN device was deleted (e.g. `ip link del`)',
      lastError: true,
    });
  });

  it.skipIf(!canUseTun)(`lets the process exit while the reader runs, by exit() or unref() ${needs}`, () => {
    for (const mode of ['exit', 'unref']) {
      const run = withNetns((ns) => runChild(ns, mode));
      expect(run.result, `${mode}: ${run.stderr}`).toEqual({ replied: true });
      expect(run.signal, mode).toBeNull();
      expect(run.status, mode).toBe(0);
    }
  });
});
