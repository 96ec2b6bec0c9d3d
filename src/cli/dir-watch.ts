// Waiting for something to appear in or vanish from a directory (a control socket, a line
// in a log file) on the kernel's word (inotify, through fs.watch) instead of re-checking
// every few ms: `down` waits for the daemon to unlink its socket, the lab waits for
// `tsvpn up` to open its socket and to print that the tunnel is up.

import { watch, type FSWatcher } from 'node:fs';

export interface DirWaitOptions {
  timeoutMs: number;
  /** The error to reject with when `timeoutMs` passes first. */
  onTimeout: () => Error | Promise<Error>;
  /** Rejects the wait early with its error (a child process that exited). */
  abort?: Promise<Error>;
}

/**
 * Resolves once `check()` holds: checked at once, then each time an entry of `dir` is
 * created, removed or written. A check that throws ends the wait with its error.
 */
export function whenInDir(dir: string, check: () => boolean | Promise<boolean>, o: DirWaitOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let watcher: FSWatcher | undefined;
    let checking = false;
    let again = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watcher?.close();
      if (err) reject(err);
      else resolve();
    };
    // one check at a time; changes during a check make one more check afterwards
    const run = async (): Promise<void> => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          if (await check()) return finish();
        } while (again && !settled);
      } catch (e) {
        finish(e as Error);
      } finally {
        checking = false;
      }
    };
    const timer = setTimeout(() => void Promise.resolve(o.onTimeout()).then(finish, finish), o.timeoutMs);
    o.abort?.then(finish, finish);
    try {
      watcher = watch(dir, () => void run());
      watcher.on('error', finish);
    } catch (e) {
      finish(e as Error);
      return;
    }
    // after the watcher exists, so a change between this check and the watch is not lost
    void run();
  });
}
