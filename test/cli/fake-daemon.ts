// A fake `tsvpn up` on the control socket (`${dir}/${name}.sock`): answers status with a
// fixed TunnelStatus and, on down, closes its socket (which unlinks it) like the real one.
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

export interface FakeDaemon {
  server: Server;
  /** Request lines received, in order. */
  seen: string[];
}

/** `onLine` may answer a request itself (its reply is sent as is). */
export function fakeDaemon(dir: string, name: string, status: object, onLine?: (line: string) => string | undefined): Promise<FakeDaemon> {
  const seen: string[] = [];
  const srv = createServer((c) => {
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      seen.push(line);
      const custom = onLine?.(line);
      if (custom !== undefined) {
        c.end(custom);
        return;
      }
      const req = JSON.parse(line) as { cmd: string };
      if (req.cmd === 'status') c.end(JSON.stringify({ ok: true, status }) + '\n');
      else if (req.cmd === 'down') {
        c.end(JSON.stringify({ ok: true }) + '\n');
        setTimeout(() => srv.close(), 100);
      } else c.end(JSON.stringify({ ok: false, error: `unknown command ${req.cmd}` }) + '\n');
    });
  });
  return new Promise((resolve) => srv.listen(join(dir, `${name}.sock`), () => resolve({ server: srv, seen })));
}
