// The addon loader and the native layer's own argument checks (no privilege needed).

import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { addonCandidates, IoError, loadNative, missingMethods, toIoError } from '../../src/io/native.js';
import { repoRoot } from './helpers/netns.js';

function caught(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

describe('native addon loader', () => {
  it('finds the built addon in native/build/Release', () => {
    expect(addonCandidates()[0]).toBe(resolve(repoRoot, 'native/build/Release/tsvpn_native.node'));
    const addon = loadNative();
    expect(typeof addon.TunDevice).toBe('function');
    expect(typeof addon.UdpSocket).toBe('function');
  });

  it('an addon built from older sources is named stale at load, with what it lacks', () => {
    expect(missingMethods(loadNative())).toEqual([]);
    class Old {
      sendBatch(): void {}
    }
    expect(missingMethods({ TunDevice: Old, UdpSocket: Old, RawEspSocket: Old })).toEqual(['UdpSocket.gso', 'UdpSocket.gro', 'TunDevice.offloadStats', 'TunDevice.offload', 'UdpSocket.icmpErrors', 'RawEspSocket.icmpErrors']);
  });

  it('says how to build the addon when it is missing', async () => {
    // The same loader, copied into a tree that has no native/build.
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-loader-'));
    try {
      mkdirSync(join(dir, 'src/io'), { recursive: true });
      copyFileSync(resolve(repoRoot, 'src/io/native.ts'), join(dir, 'src/io/native.ts'));
      const copy = (await import(join(dir, 'src/io/native.ts'))) as typeof import('../../src/io/native.js');
      const err = caught(() => copy.loadNative());
      expect(err).toMatchObject({ name: 'IoError', code: 'ERR_NATIVE_NOT_BUILT' });
      expect(err.message).toContain(join(dir, 'native/build/Release/tsvpn_native.node'));
      expect(err.message).toContain(
        'run `npm ci` (it builds the native addon with node-gyp; needs g++ and make)',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native argument checks', () => {
  const addon = loadNative();

  it('refuses a TUN name of IFNAMSIZ bytes or more before any system call', () => {
    const err = toIoError(caught(() => new addon.TunDevice('x'.repeat(16), 1400, 64, 4)));
    expect(err).toBeInstanceOf(IoError);
    expect(err.code).toBe('ERR_INVALID_ARG');
    expect(err.message).toBe(`TUN device name '${'x'.repeat(16)}' is too long: at most 15 bytes (IFNAMSIZ)`);
  });

  it('refuses out-of-range sizes', () => {
    expect(caught(() => new addon.TunDevice('t', 1400, 0, 4)).message).toBe('batch must be an integer from 1 to 1024');
    expect(caught(() => new addon.UdpSocket('127.0.0.1', 0, 64, 4, 0, 0, 0)).message).toBe(
      'maxDatagram must be an integer from 1 to 65535',
    );
    expect(caught(() => new addon.UdpSocket('127.0.0.1', 0, 64, 1, 2048, 0, 0)).message).toBe(
      'slabs must be an integer from 2 to 64',
    );
  });

  it('keeps errno facts when converting an addon error', () => {
    const e = Object.assign(new Error('cannot open /dev/net/tun (ENOENT): x'), { code: 'ENOENT', errno: 2, syscall: 'open' });
    expect(toIoError(e)).toMatchObject({ name: 'IoError', code: 'ENOENT', errno: 2, syscall: 'open', message: e.message });
  });
});
