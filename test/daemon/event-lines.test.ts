// The lines `tsvpn events` shows: built from named fields, with time and connection.
import { describe, expect, it } from 'vitest';

import type { IkeEvent } from '../../src/ike/effects.js';
import { eventText, failureLine, ikeEventLine, reloadLine } from '../../src/daemon/event-lines.js';

const T = '2026-12-07T06:00:00.000Z';

describe('events lines', () => {
  it('a Child SA installed: time, connection, event, then its names, SPIs and selectors', () => {
    const ev: IkeEvent = { type: 'child-installed', name: 'net', spiIn: 'c1234567', spiOut: 'c7654321', proposal: 'aes256gcm16', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], narrowed: false };
    const l = ikeEventLine(ev, 'left', T)!;
    expect(l).toEqual({ time: T, connection: 'left', event: 'child-installed', name: 'net', spiIn: 'c1234567', spiOut: 'c7654321', proposal: 'aes256gcm16', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], narrowed: false });
    expect(eventText(l)).toBe(`${T} left child-installed name=net spiIn=c1234567 spiOut=c7654321 proposal=aes256gcm16 localTs=["10.1.0.0/24"] remoteTs=["10.2.0.0/24"] narrowed=false`);
  });

  it('sends only the fields it names: anything else an event object carries never reaches a client', () => {
    const secret = { type: 'ike-established', spiI: 'aa', spiR: 'bb', proposal: 'p', localId: 'l', remoteId: 'r', nat: { local: false, remote: true, skeyseed: 'KEY' }, sk_d: 'KEY' } as unknown as IkeEvent;
    const l = ikeEventLine(secret, 'c', T)!;
    expect(JSON.stringify(l)).not.toContain('KEY');
    expect(l).toMatchObject({ event: 'ike-established', nat: { local: false, remote: true } });
  });

  it('every IKE event but an authenticated failure has a line (those come from the event log, once)', () => {
    const ep = { addr: '192.0.2.1', port: 4500 };
    const events: IkeEvent[] = [
      { type: 'ike-state', from: 'CONNECTING', to: 'ESTABLISHED' },
      { type: 'reauth-due', spiI: 'a', spiR: 'b' },
      { type: 'config-selected', name: 'x', why: 'y' },
      { type: 'ike-deleted', reason: 'peer' },
      { type: 'child-deleted', name: 'n', spiIn: 'a', spiOut: 'b', reason: 'expired' },
      { type: 'child-rekeyed', name: 'n', oldSpiIn: 'a', oldSpiOut: 'b', newSpiIn: 'c', newSpiOut: 'd', pfsGroup: null },
      { type: 'ike-rekeyed', oldSpi: 'a', newSpi: 'b', spiI: 'c', spiR: 'd' },
      { type: 'rekey-collision', scope: 'child', won: true },
      { type: 'retransmit', exchange: 'IKE_SA_INIT', messageId: 0, attempt: 2, to: ep },
      { type: 'peer-moved', from: ep, to: { addr: '192.0.2.1', port: 1024 }, via: 'esp', nat: { local: false, remote: true } },
      { type: 'liveness', ok: false, requests: 5 },
      { type: 'invalid-ke', requested: 19 },
      { type: 'cookie-requested' },
      { type: 'notify', exchange: 'INFORMATIONAL', notify: 'INVALID_SYNTAX' },
    ];
    for (const e of events) expect(ikeEventLine(e, 'c', T)?.event).toBe(e.type);
    expect(ikeEventLine(events[9]!, 'c', T)).toMatchObject({ from: '192.0.2.1:4500', to: '192.0.2.1:1024' });
    const fail = { type: 'failure', row: 'F1', message: 'no answer', evidence: { retransmits: 3, to: ep, from: ep, exchange: 'IKE_SA_INIT' } } as IkeEvent;
    expect(ikeEventLine(fail, 'c', T)).toBeUndefined();
    const unauth = { ...fail, unauthenticated: { from: { addr: '203.0.113.9', port: 500 } } } as IkeEvent;
    expect(ikeEventLine(unauth, 'c', T)).toMatchObject({ event: 'unauthenticated-failure', row: 'F1', from: '203.0.113.9:500' });
  });

  it('a failure has its row, message and evidence; a reload its result', () => {
    const f = failureLine({ row: 'F5', message: 'routes for 10.2.0.0/24 could not be installed', evidence: { remoteTs: ['10.2.0.0/24'] }, fixArea: 'routes, policy, inner firewall', at: T }, 'hub');
    expect(eventText(f)).toBe(`${T} hub failure row=F5 message="routes for 10.2.0.0/24 could not be installed" evidence={"remoteTs":["10.2.0.0/24"]} fixArea="routes, policy, inner firewall"`);
    expect(reloadLine({ ok: true, summary: 'added 1 (b)' }, T)).toEqual({ time: T, connection: '', event: 'reload', ok: true, summary: 'added 1 (b)' });
    expect(eventText(reloadLine({ ok: false, error: 'bad' }, T))).toBe(`${T} - reload ok=false error=bad`);
  });
});
