// One TCP transfer in both directions, checked by hash (plain JS: started inside a
// namespace with `ip netns exec ... node tcp-hash.mjs`, no loader needed).
//   node tcp-hash.mjs server <listenAddr> <port> <bytes>
//   node tcp-hash.mjs client <localAddr> <serverAddr> <port> <bytes>
// The client sends <bytes> random bytes and half-closes; the server hashes what it got,
// then sends its own <bytes> random bytes and closes; the client hashes those. Each side
// prints one JSON line: {"sent": {"bytes", "sha256"}, "received": {"bytes", "sha256"}}.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';

const [mode, a, b, c, d] = process.argv.slice(2);
const CHUNK = 64 * 1024;
setTimeout(() => {
  console.error(`tcp-hash ${mode}: timed out`);
  process.exit(3);
}, 30_000).unref();

function pump(sock, total, done) {
  const h = createHash('sha256');
  let left = total;
  const more = () => {
    while (left > 0) {
      const n = Math.min(CHUNK, left);
      const buf = randomBytes(n);
      h.update(buf);
      left -= n;
      if (!sock.write(buf)) return sock.once('drain', more);
    }
    sock.end();
    done({ bytes: total, sha256: h.digest('hex') });
  };
  more();
}

function receive(sock, done) {
  const h = createHash('sha256');
  let n = 0;
  sock.on('data', (buf) => {
    h.update(buf);
    n += buf.length;
  });
  sock.on('end', () => done({ bytes: n, sha256: h.digest('hex') }));
}

function fail(e) {
  console.error(`tcp-hash ${mode}: ${e.message}`);
  process.exit(2);
}

if (mode === 'server') {
  const bytes = Number(c);
  const srv = createServer({ allowHalfOpen: true }, (sock) => {
    srv.close();
    sock.on('error', fail);
    receive(sock, (received) => {
      pump(sock, bytes, (sent) => {
        sock.on('close', () => console.log(JSON.stringify({ sent, received })));
      });
    });
  });
  srv.on('error', fail);
  srv.listen(Number(b), a, () => console.log('LISTENING'));
} else if (mode === 'client') {
  const bytes = Number(d);
  const sock = connect({ host: b, port: Number(c), localAddress: a, allowHalfOpen: true });
  sock.on('error', fail);
  sock.on('connect', () => {
    let sent;
    receive(sock, (received) => {
      sock.on('close', () => console.log(JSON.stringify({ sent, received })));
      sock.destroy();
    });
    pump(sock, bytes, (s) => (sent = s));
  });
} else {
  fail(new Error('usage: tcp-hash.mjs server <addr> <port> <bytes> | client <local> <server> <port> <bytes>'));
}
