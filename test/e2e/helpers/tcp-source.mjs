// Connects from <local> to <addr> <port>, sends <bytes> of random data in 256 KiB writes,
// and prints {"bytes":N,"sha256":"...","seconds":S} once the receiver has everything.
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const [local, addr, port, total] = process.argv.slice(2);
const want = Number(total);
const h = createHash('sha256');
const t0 = process.hrtime.bigint();
const sock = connect({ host: addr, port: Number(port), localAddress: local });
let sent = 0;
function pump() {
  while (sent < want) {
    const chunk = randomBytes(Math.min(256 * 1024, want - sent));
    h.update(chunk);
    sent += chunk.length;
    if (!sock.write(chunk)) {
      sock.once('drain', pump);
      return;
    }
  }
  sock.end();
}
sock.on('connect', pump);
sock.on('error', (e) => {
  process.stderr.write(`source: ${e.message}\n`);
  process.exit(1);
});
// the sink closes its side after it has read everything
sock.on('close', () => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ bytes: sent, sha256: h.digest('hex'), seconds }) + '\n');
});
sock.resume();
