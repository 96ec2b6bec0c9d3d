// `tsvpn events` and `tsvpn metrics` against a real tunnel pair in namespaces: the events
// stream shows the Child SA installed again when the peer restarts, two clients at once, and
// the metrics show bytes and packets moving after a ping.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { TSVPN_BIN } from '../../src/cli/lab-tunnel.js';
import { labOk, nsRun, ping, restartEnd, step, tsvpn, usePair } from './helpers/lab.js';

/** The value of one sample in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(!labOk)('tsvpn events and tsvpn metrics on a tunnel pair (needs root, /dev/net/tun)', () => {
  const pair = usePair({ names: { left: 'evm-l', right: 'evm-r' } });

  it('metrics: bytes and packets each way grow with a ping through the tunnel', { timeout: 30_000 }, async () => {
    const p = pair();
    const { left, right } = p.hosts;
    await step(p, async () => {
      const series = (k: string) => `tsvpn_esp_${k}_total{tunnel="evm-l",connection="evm-l"}`;
      const before = await tsvpn(p, left.ns, ['metrics', 'evm-l']);
      expect(before.code, before.err).toBe(0);
      expect(sample(before.out, 'tsvpn_child_sas_installed{tunnel="evm-l",connection="evm-l"}')).toBe(1);
      expect((await ping(left.ns, left.inner, right.inner)).code).toBe(0);
      const after = await tsvpn(p, left.ns, ['metrics', 'evm-l']);
      expect(after.code, after.err).toBe(0);
      for (const k of ['out_packets', 'in_packets']) expect(sample(after.out, series(k))! - sample(before.out, series(k))!).toBeGreaterThanOrEqual(3);
      // 3 echo requests of 84 inner bytes in ESP, 3 replies delivered
      expect(sample(after.out, series('out_bytes'))! - sample(before.out, series('out_bytes'))!).toBeGreaterThanOrEqual(3 * 84);
      expect(sample(after.out, series('in_bytes'))! - sample(before.out, series('in_bytes'))!).toBeGreaterThanOrEqual(3 * 84);
      expect(after.out).toMatch(/^# TYPE tsvpn_drops_total counter$/m);
    });
  });

  it('events: two clients see the Child SA installed again when the peer restarts; Ctrl-C ends them. The restarted peer publishes its metrics to a file and on loopback HTTP', { timeout: 60_000 }, async () => {
    const p = pair();
    const env = { ...process.env, TSVPN_CONTROL_DIR: p.controlDir };
    const follow = (json: boolean) => {
      const proc = spawn('ip', ['netns', 'exec', p.right.host.ns, process.execPath, TSVPN_BIN, 'events', 'evm-r', ...(json ? ['--json'] : [])], { env });
      const got = { out: '', err: '' };
      proc.stdout.on('data', (d) => (got.out += d));
      proc.stderr.on('data', (d) => (got.err += d));
      const exited = new Promise<number | null>((r) => proc.once('exit', (code, sig) => r(code ?? (sig === 'SIGINT' ? 130 : null))));
      return { proc, got, exited };
    };
    const text = follow(false);
    const json = follow(true);
    let again: ReturnType<typeof restartEnd> | undefined;
    const metricsFile = `${p.dir}/tsvpn-evm-l.prom`;
    try {
      await step(p, async () => {
        await until(() => text.got.err.includes('following the events of evm-r') && json.got.err.includes('following the events of evm-r'), { timeout: 10_000, interval: 50, what: 'both events clients connected' });
        p.left.proc.kill('SIGKILL');
        await p.left.exited;
        again = restartEnd(p, p.left, ['--metrics-file', metricsFile, '--metrics-listen', '127.0.0.1:9474']);
        await until(() => /^\S+ evm-r child-installed name=\S+ spiIn=[0-9a-f]{8} /m.test(text.got.out), { timeout: 20_000, interval: 100, what: `a child-installed line in tsvpn events\n${text.got.out}${text.got.err}` });
        await until(() => json.got.out.includes('"event":"child-installed"'), { timeout: 5000, interval: 100, what: 'a child-installed line in tsvpn events --json' });
        const lines = json.got.out.trim().split('\n').map((l) => JSON.parse(l) as { time: string; connection: string; event: string; localTs?: string[] });
        const installed = lines.find((l) => l.event === 'child-installed')!;
        expect(installed.connection).toBe('evm-r');
        expect(Number.isNaN(Date.parse(installed.time))).toBe(false);
        expect(installed.localTs).toEqual([p.right.host.inner.replace(/\.\d+$/, '.128/25')]);
        // the peer's restart (INITIAL_CONTACT) ended the old IKE SA first
        expect(lines.map((l) => l.event)).toContain('ike-established');
        expect(json.got.out).not.toMatch(/lab-secret|psk/i);
        // the restarted end's textfile (node_exporter) and loopback endpoint
        expect(statSync(metricsFile).mode & 0o777).toBe(0o644);
        expect(readFileSync(metricsFile, 'utf8')).toMatch(/^tsvpn_connections\{tunnel="evm-l"\} 1$/m);
        const fetchJs = "fetch('http://127.0.0.1:9474/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))";
        const http = await until(() => nsRun(p.left.host.ns, process.execPath, ['-e', fetchJs]), { timeout: 10_000, interval: 250, what: 'the Child SA in the HTTP metrics', done: (r) => r.out.includes('tsvpn_child_sas_installed{tunnel="evm-l",connection="evm-l"} 1') });
        expect(http.out.split('\n')[0]).toBe('200');
      });
      for (const c of [text, json]) c.proc.kill('SIGINT');
      const codes = await Promise.race([Promise.all([text.exited, json.exited]), sleep(5000).then(() => 'timeout')]);
      expect(codes).not.toBe('timeout');
    } finally {
      for (const c of [text, json]) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
      if (again) {
        again.proc.kill('SIGTERM');
        await Promise.race([again.exited, sleep(5000)]);
        if (again.proc.exitCode === null) again.proc.kill('SIGKILL');
        expect(existsSync(metricsFile)).toBe(false); // a clean stop removes the textfile
      }
    }
  });
});
