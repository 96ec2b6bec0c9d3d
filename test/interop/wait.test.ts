import { describe, expect, it } from 'vitest';

import { sleep, until, WaitTimeout } from '../../interop/lab/wait.js';

describe('until', () => {
  it('resolves with the first truthy value, probing again until then', async () => {
    let n = 0;
    await expect(until(() => (++n >= 3 ? `probe ${n}` : undefined), { timeout: 1000, interval: 1, what: 'three probes' })).resolves.toBe('probe 3');
  });

  it('with done, resolves with the value done accepts', async () => {
    let n = 0;
    await expect(until(() => ++n, { timeout: 1000, interval: 1, what: 'n over 2', done: (v) => v > 2 })).resolves.toBe(3);
  });

  it('on timeout names what it waited for and the last value seen', async () => {
    const e = await until(() => ({ state: 'CONNECTING' }), { timeout: 30, interval: 5, what: 'an ESTABLISHED IKE SA', done: (s) => s.state === 'ESTABLISHED' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WaitTimeout);
    expect((e as WaitTimeout).message).toBe('timed out after 30 ms waiting for an ESTABLISHED IKE SA; last value: {"state":"CONNECTING"}');
    expect((e as WaitTimeout).last).toEqual({ state: 'CONNECTING' });
  });

  it('shows the last value as show() says, and ends at once when the probe throws', async () => {
    await expect(until(() => 0, { timeout: 10, interval: 5, what: 'a packet', show: (v) => `${v} packets` })).rejects.toThrow('waiting for a packet; last value: 0 packets');
    const t0 = Date.now();
    await expect(until(() => { throw new Error('the daemon exited'); }, { timeout: 5000, what: 'anything' })).rejects.toThrow('the daemon exited');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('sleep lets the time pass', async () => {
    const t0 = Date.now();
    await sleep(20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(19);
  });
});
