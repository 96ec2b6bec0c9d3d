// A stand-in for systemd's notify socket in tests: a python3 child binds a unix datagram
// socket (a path, or '@name' in the abstract namespace) and prints each datagram it receives
// as one JSON string per line. Node itself cannot bind unix datagram sockets.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { until } from '../../../interop/lab/wait.js';

const LISTENER = `
import json, socket, sys
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + p[1:] if p.startswith('@') else p)
print(json.dumps('bound'), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

export interface NotifyListener {
  /** Every datagram received so far, in order. */
  readonly messages: string[];
  /** Until a datagram satisfying `match` has arrived (`timeout` ms), then every message so far. */
  waitFor(what: string, match: (m: string) => boolean, timeout?: number): Promise<string[]>;
  close(): void;
}

/** Binds `path` (gone again at close() when it is a file, as the caller removes its directory). */
export async function listenNotify(path: string): Promise<NotifyListener> {
  const proc = spawn('python3', ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let bound = false;
  createInterface({ input: proc.stdout }).on('line', (l) => {
    const m = JSON.parse(l) as string;
    if (!bound && m === 'bound') bound = true;
    else messages.push(m);
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  await until(() => bound || gone, { what: `python3 bound to ${path}`, timeout: 10_000, interval: 20 });
  if (!bound) throw new Error(`python3 could not bind ${path}`);
  return {
    messages,
    waitFor: async (what, match, timeout = 10_000) => {
      await until(() => messages.some(match), { what, timeout, interval: 20, show: () => JSON.stringify(messages) });
      return messages;
    },
    close: () => {
      if (!gone) proc.kill('SIGTERM');
    },
  };
}
