// Child process for the TUN tests, run inside a throw-away namespace by netns.ts:
//   ip netns exec <ns> node --import tsx test/io/helpers/tun-child.ts <mode>
// It reports facts as one "RESULT <json>" line; the test file makes the assertions.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

import { until } from '../../../interop/lab/wait.js';
import { innerBatch } from '../../../src/daemon/datapath.js';
import { IoError, openTun, type TunDevice } from '../../../src/io/tun.js';
import { echoRequest, parseEchoReply, type EchoReply } from './icmp.js';

const HOST = '192.0.2.1'; // the TUN's own address (RFC 5737 documentation prefix)
const PEER = '192.0.2.2'; // the pretend far end that "sends" the requests
const ID = 0x7473;

function report(result: Record<string, unknown>): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function errorFacts(e: unknown): Record<string, unknown> {
  if (e instanceof IoError) return { isIoError: true, code: e.code, message: e.message, syscall: e.syscall };
  return { isIoError: false, message: String(e) };
}

function sysfs(name: string, file: string): string | undefined {
  const p = `/sys/class/net/${name}/${file}`;
  return existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined;
}

function payloadFor(seq: number): Uint8Array {
  const p = new Uint8Array(8 + ((seq * 131) % 1300)); // sizes from 8 to 1307 bytes
  for (let i = 0; i < p.length; i++) p[i] = (seq + i) & 0xff;
  return p;
}


function checkReply(r: EchoReply | undefined, seq: number): Record<string, unknown> {
  if (!r) return { seq, received: false };
  const sent = payloadFor(seq);
  const payloadOk = r.payload.length === sent.length && r.payload.every((b, i) => b === sent[i]);
  return { seq, received: true, src: r.src, dst: r.dst, payloadOk, ipOk: r.ipChecksumOk, icmpOk: r.icmpChecksumOk };
}

async function echo(): Promise<void> {
  const tun = openTun({ name: 'tsvpn-t0', mtu: 1400, batch: 16 });
  const upByOpen = (Number(sysfs(tun.name, 'flags')) & 0x1) === 1; // IFF_UP
  execFileSync('ip', ['addr', 'add', `${HOST}/24`, 'dev', tun.name]);
  execFileSync('ip', ['link', 'set', tun.name, 'up']);
  const replies = new Map<number, EchoReply>();
  let maxBatch = 0;
  let others = 0;
  tun.onBatch((b) => {
    maxBatch = Math.max(maxBatch, b.count);
    for (let i = 0; i < b.count; i++) {
      const r = parseEchoReply(b.packet(i));
      if (r && r.id === ID) replies.set(r.seq, r);
      else others++; // e.g. IPv6 router solicitations
    }
  });
  // One request, one reply.
  const one = innerBatch([echoRequest(PEER, HOST, ID, 1000, payloadFor(1000))]);
  const wroteOne = tun.writeBatch(one.buf, one.offsets, one.lengths, 1);
  // each wait ends after 5 s at the most: the test judges the replies that came
  await until(() => replies.has(1000), { timeout: 5000, interval: 5, what: 'echo reply 1000' }).catch(() => undefined);
  const single = checkReply(replies.get(1000), 1000);
  // 100 requests in one call.
  const seqs = Array.from({ length: 100 }, (_, i) => i);
  const many = innerBatch(seqs.map((s) => echoRequest(PEER, HOST, ID, s, payloadFor(s))));
  const wroteMany = tun.writeBatch(many.buf, many.offsets, many.lengths, 100);
  await until(() => seqs.every((s) => replies.has(s)), { timeout: 5000, interval: 5, what: 'echo replies 0-99' }).catch(() => undefined);
  const batch = seqs.map((s) => checkReply(replies.get(s), s));
  const statsAfterEcho = tun.stats;
  // A packet that is not IP is refused by the kernel: counted, not thrown.
  const mixed = innerBatch([Uint8Array.of(0xff, 0, 1), echoRequest(PEER, HOST, ID, 2000, payloadFor(2000))]);
  const wroteMixed = tun.writeBatch(mixed.buf, mixed.offsets, mixed.lengths, 2);
  await until(() => replies.has(2000), { timeout: 5000, interval: 5, what: 'echo reply 2000' }).catch(() => undefined);
  let outside: Record<string, unknown> = {};
  try {
    tun.writeBatch(one.buf, Uint32Array.of(one.buf.length - 4), Uint32Array.of(8), 1);
  } catch (e) {
    outside = errorFacts(e);
  }
  const name = tun.name;
  const mtu = sysfs(name, 'mtu');
  tun.close();
  report({
    name, mtu, upByOpen, wroteOne, single, wroteMany, batch, maxBatch, others,
    statsAfterEcho, wroteMixed, mixedReplied: replies.has(2000), statsFinal: tun.stats, outside,
    goneAfterClose: sysfs(name, 'mtu') === undefined,
  });
}

function errors(): void {
  const facts: Record<string, unknown> = {};
  try {
    openTun({ name: 'lo' }).close();
  } catch (e) {
    facts.otherType = errorFacts(e);
  }
  const a = openTun({ name: 'tsvpn-dup' });
  try {
    openTun({ name: 'tsvpn-dup' }).close();
  } catch (e) {
    facts.busy = errorFacts(e);
  }
  a.close();
  a.close(); // idempotent
  try {
    a.writeBatch(Buffer.alloc(1), new Uint32Array(1), Uint32Array.of(1), 1);
  } catch (e) {
    facts.afterClose = errorFacts(e);
  }
  const kernelNamed: TunDevice = openTun({ name: 'tsvpn%d' });
  facts.kernelName = kernelNamed.name;
  kernelNamed.close();
  report(facts);
}

function open(): void {
  try {
    const t = openTun({ name: 'tsvpn-p0' });
    report({ opened: t.name });
    t.close();
  } catch (e) {
    report(errorFacts(e));
  }
}

// The reader thread is running and the fd open when the process leaves.
function exitWithoutClose(how: 'exit' | 'unref'): void {
  const tun = openTun({ name: 'tsvpn-x0' });
  execFileSync('ip', ['addr', 'add', `${HOST}/24`, 'dev', tun.name]);
  const req = echoRequest(PEER, HOST, ID, 1, payloadFor(1));
  let replied = false;
  tun.onBatch((b) => {
    for (let i = 0; i < b.count; i++) {
      if (parseEchoReply(b.packet(i))?.id === ID && !replied) {
        replied = true;
        report({ replied });
        if (how === 'exit') process.exit(0);
        tun.unref(); // nothing else keeps the loop alive: Node exits on its own
      }
    }
  });
  tun.writeBatch(Buffer.from(req), Uint32Array.of(0), Uint32Array.of(req.length), 1);
}

// `ip link del` under an open device: the reader stops and says why.
function deleted(): void {
  const tun = openTun({ name: 'tsvpn-d0' });
  tun.onBatch(() => {});
  tun.onError((e) => {
    tun.close();
    report({ ...errorFacts(e), lastError: tun.lastError === e });
  });
  execFileSync('ip', ['link', 'del', tun.name]);
}

const mode = process.argv[2];
const watchdog = setTimeout(() => {
  report({ timeout: mode });
  process.exit(3);
}, 20_000);
watchdog.unref();
if (mode === 'echo') await echo();
else if (mode === 'errors') errors();
else if (mode === 'open') open();
else if (mode === 'deleted') deleted();
else if (mode === 'exit' || mode === 'unref') exitWithoutClose(mode);
else throw new Error(`unknown mode ${mode}`);
