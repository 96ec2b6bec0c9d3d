// Receives one TCP connection on <addr> <port>, hashes everything it reads, and prints
// {"bytes":N,"sha256":"..."} when the sender closes. Prints "listening" once bound.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';

const [addr, port] = process.argv.slice(2);
const srv = createServer((c) => {
  const h = createHash('sha256');
  let bytes = 0;
  c.on('data', (d) => {
    bytes += d.length;
    h.update(d);
  });
  c.on('end', () => {
    process.stdout.write(JSON.stringify({ bytes, sha256: h.digest('hex') }) + '\n');
    c.end();
    srv.close();
  });
  c.on('error', (e) => {
    process.stderr.write(`sink: ${e.message}\n`);
    process.exit(1);
  });
});
srv.listen(Number(port), addr, () => process.stdout.write('listening\n'));
