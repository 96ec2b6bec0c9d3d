// The control socket's two commands for watching a running daemon: {"cmd":"events"} streams
// one JSON line per event it applies (src/daemon/event-lines.ts), each client through its own
// bounded writer (src/daemon/line-writer.ts), and {"cmd":"metrics"} answers the Prometheus
// text of its status (src/daemon/metrics.ts).
import type { EventEmitter } from 'node:events';
import type { IkeEvent } from '../ike/effects.js';
import type { ControlReply, ControlStream } from './control.js';
import type { LastFailure } from './event-log.js';
import { failureLine, ikeEventLine, reloadLine, type EventLine } from './event-lines.js';
import { BoundedLineWriter } from './line-writer.js';
import { metricsText } from './metrics.js';
import type { TunnelStatus } from './status.js';

/** What the daemon emits: IKE events with their connection, recorded failures, reload results. */
export type DaemonEvents = {
  ike: [IkeEvent, string | undefined];
  failure: [LastFailure, string | undefined];
  reload: [{ ok: true; summary: string } | { ok: false; error: string }];
  /** A Child SA left NOT ROUTED got its routes on a retry (src/daemon/effects.ts retryRoutes). */
  routed: [];
};

/** At most this many `tsvpn events` clients at once (each holds up to EVENTS_CLIENT_BUFFER). */
export const MAX_EVENT_CLIENTS = 16;

export interface Observed {
  readonly events: EventEmitter<DaemonEvents>;
  status(): TunnelStatus;
}

/** The answer to 'events' or 'metrics'; undefined for any other command. */
export function observeCommand(cmd: string, name: string, d: Observed, now: () => number = Date.now): ControlReply | ControlStream | Promise<ControlReply> | undefined {
  if (cmd === 'metrics') return metricsText([d.status()]).then((metrics) => ({ ok: true, metrics }));
  if (cmd !== 'events') return undefined;
  if (d.events.listenerCount('failure') >= MAX_EVENT_CLIENTS) return { ok: false, error: `${MAX_EVENT_CLIENTS} events clients already connected` };
  // each client listens once per event name, besides the daemon's own listeners (tsvpn up's)
  if (d.events.getMaxListeners() < MAX_EVENT_CLIENTS + 4) d.events.setMaxListeners(MAX_EVENT_CLIENTS + 4);
  return { stream: (sock) => subscribe(name, d, new BoundedLineWriter(sock, now), now) };
}

/** Feed one client every event from now on (`name`: the connection of events that name none); returns what unsubscribes it. */
export function subscribe(name: string, d: Observed, out: { push(l: EventLine): void }, now: () => number = Date.now): () => void {
  const time = (): string => new Date(now()).toISOString();
  const onIke = (e: IkeEvent, conn: string | undefined): void => {
    const l = ikeEventLine(e, conn ?? name, time());
    if (l) out.push(l);
  };
  const onFailure = (f: LastFailure, conn: string | undefined): void => out.push(failureLine(f, conn ?? name));
  const onReload = (r: DaemonEvents['reload'][0]): void => out.push(reloadLine(r, time()));
  d.events.on('ike', onIke);
  d.events.on('failure', onFailure);
  d.events.on('reload', onReload);
  return () => {
    d.events.off('ike', onIke);
    d.events.off('failure', onFailure);
    d.events.off('reload', onReload);
  };
}
