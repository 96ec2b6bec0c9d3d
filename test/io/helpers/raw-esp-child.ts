// Child process for the raw ESP tests, run inside a lab namespace (Node cannot setns(2)):
//   ip netns exec <ns> node --import tsx test/io/helpers/raw-esp-child.ts <mode> <args...>
// It reports facts as one "RESULT <json>" line (a receiver first prints "READY" once its
// reader runs); test/io/raw-esp.test.ts makes the assertions. Imported by the test only
// for espPacket(), the packets both ends agree on.

import { fileURLToPath } from 'node:url';

import { sleep } from '../../../interop/lab/wait.js';
import { IoError, openRawEsp } from '../../../src/io/raw-esp.js';

/** SPI of the test packets (nonzero: RFC 4303 §2.1 reserves SPI 0). */
export const TEST_SPI = 0x7473_7670;

/**
 * ESP-shaped packet number `seq` (RFC 4303 §2: SPI, sequence number, then what would be
 * IV, ciphertext and ICV), by default from 16 to 1415 bytes so that it fits a 1500-byte link.
 */
export function espPacket(seq: number, size = 16 + ((seq * 137) % 1400)): Buffer {
  const p = Buffer.alloc(size);
  p.writeUInt32BE(TEST_SPI, 0);
  p.writeUInt32BE(seq, 4);
  for (let i = 8; i < p.length; i++) p[i] = (seq * 31 + i) & 0xff;
  return p;
}

function pack(ps: Buffer[]): { buf: Buffer; offsets: Uint32Array; lengths: Uint32Array } {
  const offsets = new Uint32Array(ps.length);
  const lengths = new Uint32Array(ps.length);
  let off = 0;
  ps.forEach((p, i) => {
    offsets[i] = off;
    lengths[i] = p.length;
    off += p.length;
  });
  return { buf: Buffer.concat(ps), offsets, lengths };
}

function report(result: Record<string, unknown>): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function errorFacts(e: unknown): Record<string, unknown> {
  if (e instanceof IoError) return { isIoError: true, code: e.code, message: e.message, syscall: e.syscall };
  return { isIoError: false, message: String(e) };
}

function attempt(fn: () => unknown): Record<string, unknown> {
  try {
    return { returned: fn() };
  } catch (e) {
    return errorFacts(e);
  }
}

/** Receives until `want` packets came (or the watchdog fires); reports each as base64. */
function recv(local: string, want: number): void {
  const sock = openRawEsp({ address: local, batch: 16, rcvbuf: 4 << 20 });
  const packets: { src: string; b64: string }[] = [];
  const batches: number[] = [];
  const finish = () => {
    const stats = sock.stats;
    sock.close();
    report({ family: sock.family, packets, batches, stats });
  };
  setTimeout(finish, 8000).unref();
  sock.onBatch((b) => {
    batches.push(b.count);
    for (let i = 0; i < b.count; i++) packets.push({ src: b.srcAddress(i), b64: b.packet(i).toString('base64') });
    if (packets.length >= want) finish();
  });
  process.stdout.write('READY\n');
}

/** Sends espPacket(first .. first+count-1) (of `size` bytes when given) in one sendBatch call. */
function send(local: string, dst: string, first: number, count: number, size?: number): void {
  const sock = openRawEsp({ address: local });
  const p = pack(Array.from({ length: count }, (_, i) => espPacket(first + i, size)));
  const sent = sock.sendBatch(p.buf, p.offsets, p.lengths, count, dst);
  report({ sent, stats: sock.stats, family: sock.family });
  sock.close();
}

/** Argument and state errors on an open socket (no traffic). */
function errors(local: string, otherFamilyDst: string, absent: string): void {
  const facts: Record<string, unknown> = {};
  facts.absent = attempt(() => openRawEsp({ address: absent }).close());
  const s = openRawEsp({ address: local });
  const p = pack([espPacket(1)]);
  facts.wrongFamily = attempt(() => s.sendBatch(p.buf, p.offsets, p.lengths, 1, otherFamilyDst));
  facts.notAddress = attempt(() => s.sendBatch(p.buf, p.offsets, p.lengths, 1, 'peer.example'));
  facts.countTooLarge = attempt(() => s.sendBatch(p.buf, p.offsets, p.lengths, 2, local));
  facts.outside = attempt(() => s.sendBatch(p.buf, Uint32Array.of(p.buf.length - 4), Uint32Array.of(8), 1, local));
  facts.notTyped = attempt(() => s.sendBatch(p.buf, [0] as unknown as Uint32Array, p.lengths, 1, local));
  facts.zero = attempt(() => s.sendBatch(p.buf, p.offsets, p.lengths, 0, local));
  s.close();
  s.close(); // idempotent
  facts.closedFlag = s.closed;
  facts.afterClose = attempt(() => s.sendBatch(p.buf, p.offsets, p.lengths, 1, local));
  facts.statsAfterClose = s.stats;
  report(facts);
}

/**
 * close() while the reader thread waits in poll(), from inside a batch callback with more
 * packets queued, and from a timer while a sender keeps the socket busy. The process must
 * then exit by itself (nothing left holding the event loop).
 */
async function closing(rxAddr: string, txAddr: string): Promise<void> {
  const tx = openRawEsp({ address: txAddr });
  const burst = pack(Array.from({ length: 64 }, (_, i) => espPacket(i)));
  const sendBurst = () => tx.sendBatch(burst.buf, burst.offsets, burst.lengths, 64, rxAddr);

  // 1. Idle: the reader sits in poll(); close() must wake and join it.
  const idle = openRawEsp({ address: rxAddr });
  let idleCalls = 0;
  idle.onBatch(() => idleCalls++);
  await sleep(50);
  let t = performance.now();
  idle.close();
  const idleCloseMs = performance.now() - t;

  // 2. Inside the callback, with the rest of a burst still queued.
  const inside = openRawEsp({ address: rxAddr, batch: 1 });
  let insideCalls = 0;
  inside.onBatch(() => {
    insideCalls++;
    inside.close();
  });
  sendBurst();
  await sleep(100);

  // 3. From a timer while bursts keep arriving.
  const busy = openRawEsp({ address: rxAddr, batch: 8, slabs: 2 });
  let busyCalls = 0;
  let callsAfterClose = 0;
  let closed = false;
  busy.onBatch(() => {
    if (closed) callsAfterClose++;
    busyCalls++;
  });
  const pump = setInterval(sendBurst, 1);
  await sleep(100);
  t = performance.now();
  busy.close();
  closed = true;
  const busyCloseMs = performance.now() - t;
  await sleep(100);
  clearInterval(pump);
  const txStats = tx.stats;
  tx.close();
  report({ idleCalls, idleCloseMs, insideCalls, busyCalls, callsAfterClose, busyCloseMs, txPackets: txStats.txPackets });
  // No process.exit(): the test checks that the process ends on its own.
}

function open(local: string): void {
  try {
    const s = openRawEsp({ address: local });
    report({ opened: s.family });
    s.close();
  } catch (e) {
    report(errorFacts(e));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, ...args] = process.argv.slice(2);
  const watchdog = setTimeout(() => {
    report({ timeout: mode });
    process.exit(3);
  }, 20_000);
  watchdog.unref();
  if (mode === 'recv') recv(args[0], Number(args[1]));
  else if (mode === 'send') send(args[0], args[1], Number(args[2]), Number(args[3]), args[4] ? Number(args[4]) : undefined);
  else if (mode === 'errors') errors(args[0], args[1], args[2]);
  else if (mode === 'closing') await closing(args[0], args[1]);
  else if (mode === 'open') open(args[0]);
  else throw new Error(`unknown mode ${mode}`);
}
