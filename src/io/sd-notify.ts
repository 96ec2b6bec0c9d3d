// systemd's readiness protocol for Type=notify services (sd_notify(3), systemd.service(5)):
// newline-separated VAR=value assignments ("READY=1", "STATUS=...", "STOPPING=1") in one
// datagram to the unix socket named by $NOTIFY_SOCKET, where a leading '@' means the
// abstract namespace. Node has no unix datagram sockets, so the addon sends it. Without
// NOTIFY_SOCKET (not started by systemd) every call is a no-op.

import { IoError, loadNative, native, NOT_BUILT_HINT } from './native.js';

/** Sends `state` to $NOTIFY_SOCKET: false when it is unset; throws IoError when the send fails. */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (path === undefined || path === '') return false;
  const send = loadNative().notifySocket;
  if (send === undefined) throw new IoError(`the native addon predates notifySocket: ${NOT_BUILT_HINT}`, 'ERR_NATIVE_NOT_BUILT');
  native(() => send(path, state));
  return true;
}

/** One STATUS= value: a newline would start another assignment (a forged READY=1). */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');

export interface ServiceNotifier {
  /** READY=1 and a STATUS= line: the daemon serves (sockets, TUN and control socket open). */
  notifyReady(status: string): void;
  /** STATUS=<text>: the line `systemctl status` shows for the unit. */
  notifyStatus(text: string): void;
  /** STOPPING=1 (once): going down, Delete sent, routes and TUN being removed. */
  notifyStopping(): void;
}

/**
 * The notifications of `tsvpn up`. They never throw: the tunnel matters more than systemd's
 * view of it, so a failed send goes to `warn`, once per distinct error.
 */
export function serviceNotifier(env: NodeJS.ProcessEnv, warn: (msg: string) => void): ServiceNotifier {
  const warned = new Set<string>();
  let stopping = false;
  const send = (state: string): void => {
    try {
      sdNotify(state, env);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (!warned.has(why)) warn(`cannot tell systemd ${state.split('\n')[0]}: ${why}`);
      warned.add(why);
    }
  };
  return {
    notifyReady: (status) => send(`READY=1\nSTATUS=${oneLine(status)}`),
    notifyStatus: (text) => send(`STATUS=${oneLine(text)}`),
    notifyStopping: () => {
      if (stopping) return;
      stopping = true;
      send('STOPPING=1\nSTATUS=going down');
    },
  };
}
