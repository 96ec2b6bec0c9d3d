// A small UDP echo for `tsvpn demo` (hidden command `tsvpn __echo`): Node cannot send ICMP
// without raw sockets, so the demo proves the tunnel carries traffic with UDP datagrams
// between the two inner addresses, run inside the lab namespaces with `ip netns exec`.

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

import type { Command } from './args.js';
import type { Io } from './streams.js';

type EchoCommand = Extract<Command, { cmd: 'echo' }>;

function bind(sock: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address, port }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

async function server(c: EchoCommand, io: Io): Promise<number> {
  const sock = createSocket({ type: isIPv6(c.local) ? 'udp6' : 'udp4' });
  await bind(sock, c.local, c.port);
  sock.on('message', (msg, from) => sock.send(msg, from.port, from.address));
  io.out(`echo: listening on ${c.local} port ${c.port}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  sock.close();
  return 0;
}

async function client(c: EchoCommand, io: Io): Promise<number> {
  const remote = c.remote!;
  const sock = createSocket({ type: isIPv6(c.local) ? 'udp6' : 'udp4' });
  await bind(sock, c.local, 0);
  let got = 0;
  for (let seq = 1; seq <= c.count; seq++) {
    const payload = Buffer.from(`tsvpn demo echo ${seq} ${'.'.repeat(40)}`);
    const t0 = process.hrtime.bigint();
    const reply = await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => {
        sock.off('message', onMessage);
        resolve(undefined);
      }, 2000);
      const onMessage = (msg: Buffer): void => {
        if (!msg.equals(payload)) return;
        clearTimeout(timer);
        sock.off('message', onMessage);
        resolve(msg);
      };
      sock.on('message', onMessage);
      sock.send(payload, c.port, remote);
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (reply) {
      got++;
      io.out(`${reply.length} bytes from ${remote}: seq=${seq} time=${ms.toFixed(2)} ms\n`);
    } else {
      io.out(`no reply from ${remote}: seq=${seq} (2 s)\n`);
    }
    if (seq < c.count) await new Promise((r) => setTimeout(r, 200));
  }
  sock.close();
  io.out(`${c.count} sent, ${got} received\n`);
  return got === c.count ? 0 : 1;
}

export function runEcho(c: EchoCommand, io: Io): Promise<number> {
  return c.role === 'server' ? server(c, io) : client(c, io);
}
