// One line of `tsvpn events` (the control socket's {"cmd":"events"} stream) per thing the
// daemon applies: IKE SA and Child SA state changes, failures with their failure-map row and
// evidence, the peer moving, reload results. Every line is built here from named fields of
// the event, never by copying the event, so nothing else (key material above all) can reach a
// client: the events carry none, and a field added to an event later is not sent until it is
// named here.
import type { IkeEvent } from '../ike/effects.js';
import { formatEndpoint } from '../wire/ip-text.js';
import type { LastFailure } from './event-log.js';

export interface EventLine {
  /** ISO 8601, when the daemon applied it. */
  time: string;
  /** The connection it concerns ('' for the daemon as a whole: a reload). */
  connection: string;
  event: string;
  [field: string]: unknown;
}

/** The line for an IKE event; undefined for authenticated failures, which come from the event log (failureLine). */
export function ikeEventLine(ev: IkeEvent, connection: string, time: string): EventLine | undefined {
  const line = (event: string, fields: Record<string, unknown> = {}): EventLine => ({ time, connection, event, ...fields });
  switch (ev.type) {
    case 'ike-state':
      return line('ike-state', { from: ev.from, to: ev.to });
    case 'ike-established':
      return line('ike-established', { spiI: ev.spiI, spiR: ev.spiR, proposal: ev.proposal, localId: ev.localId, remoteId: ev.remoteId, nat: { local: ev.nat.local, remote: ev.nat.remote } });
    case 'reauth-due':
      return line('reauth-due', { spiI: ev.spiI, spiR: ev.spiR });
    case 'config-selected':
      return line('config-selected', { name: ev.name, why: ev.why });
    case 'eap':
      return line('eap', { method: ev.method, user: ev.user, result: ev.result });
    case 'virtual-ip-received':
      return line('virtual-ip-received', { addresses: [...ev.addresses], dns: [...ev.dns], subnets: [...ev.subnets] });
    case 'virtual-ip':
      return line('virtual-ip', { addresses: [...ev.addresses], pools: [...ev.pools], identity: ev.identity });
    case 'ike-deleted':
      return line('ike-deleted', { reason: ev.reason });
    case 'ike-rekeyed':
      return line('ike-rekeyed', { oldSpi: ev.oldSpi, newSpi: ev.newSpi });
    case 'child-installed':
      return line('child-installed', { name: ev.name, spiIn: ev.spiIn, spiOut: ev.spiOut, proposal: ev.proposal, localTs: [...ev.localTs], remoteTs: [...ev.remoteTs], narrowed: ev.narrowed });
    case 'child-deleted':
      return line('child-deleted', { name: ev.name, spiIn: ev.spiIn, spiOut: ev.spiOut, reason: ev.reason });
    case 'child-rekeyed':
      return line('child-rekeyed', { name: ev.name, oldSpiIn: ev.oldSpiIn, oldSpiOut: ev.oldSpiOut, newSpiIn: ev.newSpiIn, newSpiOut: ev.newSpiOut, pfsGroup: ev.pfsGroup });
    case 'rekey-collision':
      return line('rekey-collision', { scope: ev.scope, won: ev.won });
    case 'retransmit':
      return line('retransmit', { exchange: ev.exchange, messageId: ev.messageId, attempt: ev.attempt, to: formatEndpoint(ev.to) });
    case 'peer-moved':
      return line('peer-moved', { from: formatEndpoint(ev.from), to: formatEndpoint(ev.to), via: ev.via });
    case 'local-moved':
      return line('local-moved', { from: formatEndpoint(ev.from), to: formatEndpoint(ev.to), nat: ev.nat.local || ev.nat.remote });
    case 'liveness':
      return line('liveness', { ok: ev.ok, ...(ev.requests !== undefined ? { requests: ev.requests } : {}) });
    case 'mtu-probe':
      return line('mtu-probe', { sent: [...ev.sent], answered: ev.answered });
    case 'invalid-ke':
      return line('invalid-ke', { requested: ev.requested });
    case 'cookie-requested':
      return line('cookie-requested');
    case 'notify':
      return line('notify', { exchange: ev.exchange, notify: ev.notify });
    case 'failure':
      // a peer that never authenticated: not the connection's failure (event-log.ts), shown with its source
      if (ev.unauthenticated) return line('unauthenticated-failure', { row: ev.row, message: ev.message, evidence: ev.evidence, from: formatEndpoint(ev.unauthenticated.from) });
      return undefined;
  }
}

/** A failure the event log recorded (IKE's, or one the daemon found itself: F5 routes). */
export function failureLine(f: LastFailure, connection: string | undefined): EventLine {
  return { time: f.at, connection: connection ?? '', event: 'failure', row: f.row, message: f.message, evidence: f.evidence, fixArea: f.fixArea };
}

export function reloadLine(r: { ok: true; summary: string } | { ok: false; error: string }, time: string): EventLine {
  return { time, connection: '', event: 'reload', ok: r.ok, ...(r.ok ? { summary: r.summary } : { error: r.error }) };
}

/** Said in the stream in place of the lines a slow client missed. */
export function droppedLine(count: number, time: string): EventLine {
  return { time, connection: '', event: 'dropped', count };
}

const value = (v: unknown): string => (typeof v === 'string' ? (/[\s"]/.test(v) || v === '' ? JSON.stringify(v) : v) : JSON.stringify(v));

/** `tsvpn events` without --json: time, connection, event, then field=value pairs, on one line. */
export function eventText(l: EventLine): string {
  const { time, connection, event, ...fields } = l;
  const rest = Object.entries(fields).map(([k, v]) => `${k}=${value(v)}`);
  return [time, connection === '' ? '-' : connection, event, ...rest].join(' ');
}
