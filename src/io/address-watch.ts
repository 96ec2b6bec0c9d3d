// Notices that this host's addresses or routes changed, for MOBIKE (RFC 4555 §3.5: the client
// moves its IKE SA when its own address changes). One `ip monitor address route` child in the
// daemon's network namespace: the kernel tells it over netlink at once, so a change is seen
// within milliseconds and nothing polls. Each burst of lines (deleting one address and adding
// another prints several) becomes one call of `changed`, after `settleMs` of quiet.
import { spawn, type ChildProcess } from 'node:child_process';

export interface AddressWatch {
  close(): void;
}

// Implementation choice: the lines of one readdressing arrive within a few ms of each other
const DEFAULT_SETTLE_MS = 50;

/** Start watching; `changed` runs after each burst of address or route changes. `failed`: the monitor could not run or ended. */
export function watchAddresses(changed: () => void, failed: (why: string) => void, settleMs = DEFAULT_SETTLE_MS): AddressWatch {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const child: ChildProcess = spawn('ip', ['monitor', 'address', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout!.on('data', () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) changed();
    }, settleMs);
  });
  child.on('error', (e) => !closed && failed(e.message));
  child.on('exit', (code, signal) => !closed && failed(`ip monitor ended (${signal ?? `exit ${code}`})`));
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}
