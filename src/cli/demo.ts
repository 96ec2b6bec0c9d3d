// `tsvpn demo`: the README's first command. Two lab hosts in network namespaces joined by a
// veth, `tsvpn up` in each, traffic through the tunnel between the inner addresses, both
// ends' status, then `down` on both and everything removed (also on Ctrl-C or failure).
// `--keep` stops before the teardown and waits for Ctrl-C, so you can look around.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

import { netnsSupport } from '../io/netns.js';
import { formatStatus } from './format-status.js';
import { startTunnelPair, TSVPN_BIN, type TunnelPair } from './lab-tunnel.js';
import type { Io } from './streams.js';

const ECHO_PORT = 7777;

export interface DemoOptions {
  keep: boolean;
  verbose: boolean;
}

function run(ns: string, cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Starts the echo server in `ns` and resolves once it listens. */
function startEchoServer(ns: string, addr: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, TSVPN_BIN, '__echo', 'server', addr, String(ECHO_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the echo server in ${ns} did not start: ${out}`)), 15_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve(p);
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the echo server in ${ns} exited with code ${code}: ${out}`));
    });
  });
}

async function exercise(pair: TunnelPair, o: DemoOptions, io: Io, untilSignal: () => Promise<void>): Promise<boolean> {
  const { left, right } = pair.hosts;
  io.out(`[2/5] waiting for both ends to install a Child SA (at most 20 s)\n`);
  await pair.waitInstalled(20_000);

  io.out(`[3/5] UDP echo through the tunnel: ${left.inner} -> ${right.inner} port ${ECHO_PORT}\n`);
  const server = await startEchoServer(right.ns, right.inner);
  let ok = true;
  try {
    const echo = run(left.ns, process.execPath, [TSVPN_BIN, '__echo', 'client', left.inner, right.inner, String(ECHO_PORT), '3']);
    io.out(`${indent(echo.out)}\n`);
    ok = echo.code === 0;
  } finally {
    server.kill('SIGTERM');
  }
  if (spawnSync('ping', ['-V']).error === undefined) {
    for (const [from, to] of [
      [left, right],
      [right, left],
    ] as const) {
      io.out(`    ping ${from.inner} -> ${to.inner}\n`);
      const p = run(from.ns, 'ping', ['-c', '2', '-i', '0.3', '-W', '2', '-I', from.inner, to.inner]);
      io.out(`${indent(p.out.split('\n').slice(-3).join('\n'))}\n`);
      ok &&= p.code === 0;
    }
  }

  io.out(`[4/5] status of both ends (tsvpn status)\n`);
  for (const side of ['left', 'right'] as const) {
    io.out(`${indent(formatStatus(await pair.status(side)))}\n\n`);
  }
  if (o.keep) {
    io.out(
      [
        `--keep: the tunnel stays up until you press Ctrl-C. From another shell:`,
        `    TSVPN_CONTROL_DIR=${pair.controlDir} ${TSVPN_BIN} status`,
        `    ip netns exec ${left.ns} ping -I ${left.inner} ${right.inner}`,
        `    ip netns exec ${right.ns} tcpdump -ni ${right.dev}`,
        '',
      ].join('\n'),
    );
    await untilSignal();
  }
  if (o.verbose) io.out(`${pair.logs()}\n`);
  return ok;
}

export async function runDemo(o: DemoOptions, io: Io): Promise<number> {
  const support = netnsSupport();
  if (!support.ok) {
    io.err(`tsvpn demo: ${support.why}\n`);
    return 1;
  }
  io.out(`[1/5] two hosts in network namespaces, a tunnel between them\n`);
  let pair: TunnelPair | undefined;
  // --keep: a signal while waiting ends the wait and the demo tears down as usual
  let keepWaiting: (() => void) | undefined;
  const untilSignal = (): Promise<void> => new Promise((resolve) => (keepWaiting = resolve));
  // Ctrl-C during the demo: tear down what exists, then exit 130 (128 + SIGINT)
  const onSignal = (): void => {
    if (keepWaiting) {
      keepWaiting();
      return;
    }
    io.err(`\ntsvpn demo: interrupted, cleaning up\n`);
    void (pair?.destroy() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    pair = await startTunnelPair({ verbose: o.verbose });
    const { left, right } = pair.hosts;
    io.out(`    ${left.ns}: outer ${left.outer} on ${left.dev}, inner ${left.inner}  (tunnel ${pair.left.name})\n`);
    io.out(`    ${right.ns}: outer ${right.outer} on ${right.dev}, inner ${right.inner}  (tunnel ${pair.right.name})\n`);
    io.out(`    peer files and logs in ${pair.dir}${o.keep ? '' : ' (removed at the end)'}\n`);
    const ok = await exercise(pair, o, io, untilSignal);
    io.out(`[5/5] tsvpn down on both ends, then removing the namespaces\n`);
    const codes = await pair.down();
    io.out(`    tsvpn up exited with ${codes.left} (left) and ${codes.right} (right)\n`);
    const clean = codes.left === 0 && codes.right === 0;
    if (!clean) io.out(`${pair.logs()}\n`);
    io.out(ok && clean ? `demo passed: traffic went through the tunnel and both ends shut down cleanly\n` : `demo FAILED\n`);
    return ok && clean ? 0 : 1;
  } catch (e) {
    io.err(`tsvpn demo: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await pair?.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
