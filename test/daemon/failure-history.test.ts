// The failure history of `tsvpn status` (src/daemon/failure-history.ts, through the event log
// as the daemon feeds it): each failure with its fix area, newest first and kept short, F1's
// first sign replaced by the final F1, and each row resolved by what clears it, per connection.
import { describe, expect, it } from 'vitest';
import { FIX_AREA, FailureHistory, HISTORY_PER_CONNECTION, HISTORY_TOTAL, RESOLVED_BY } from '../../src/daemon/failure-history.js';
import { IkeEventLog } from '../../src/daemon/event-log.js';
import { silentLogger } from '../../src/daemon/log.js';
import type { IkeEvent } from '../../src/ike/effects.js';

const PEER = { addr: '198.51.100.2', port: 500 };
const pending: IkeEvent = { type: 'failure', row: 'F1', message: 'no answer yet', evidence: { pending: true, retransmits: 1, to: PEER, from: PEER, exchange: 'IKE_SA_INIT', nextRetransmitInS: 7 } };
const final: IkeEvent = { type: 'failure', row: 'F1', message: 'no response', evidence: { retransmits: 5, to: PEER, from: PEER, exchange: 'IKE_SA_INIT' } };
const up: IkeEvent = { type: 'ike-established', spiI: '01', spiR: '02', proposal: '', localId: '', remoteId: '', nat: { local: false, remote: false } };
const f8: IkeEvent = { type: 'failure', row: 'F8', message: 'moved', evidence: { peer: { from: 'a:1', to: 'a:2' }, noticedBy: 'esp', nat: { local: false, remote: true }, keepalive: { intervalS: 0, state: 'off' } } };

function setup() {
  let now = 0;
  const log = new IkeEventLog(silentLogger, () => now, () => Date.UTC(2026, 11, 7, 8) + now);
  return { log, at: (t: number) => (now = t) };
}

describe('failure history', () => {
  it('every row has a fix area and a rule that resolves it, as docs/failure-map.md lists them', () => {
    for (const row of ['F1', 'F2', 'F3', 'F4', 'F5', 'F6', 'F7', 'F8']) {
      expect(FIX_AREA[row]).toBeTruthy();
      expect(RESOLVED_BY[row]!.length).toBeGreaterThan(0);
    }
    expect(FIX_AREA.F8).toBe('NAT-T, UDP 4500, keepalive interval');
  });

  it('F5 from flat counters is resolved when packets come back on that connection, and only there', () => {
    const { log, at } = setup();
    log.failure('F5', 'Child SA net sent 40 packets in 10 s and received none', { outboundDelta: 40 }, 'left');
    log.failure('F5', 'Child SA net sent 12 packets in 10 s and received none', { outboundDelta: 12 }, 'right');
    at(20_000);
    log.resolve('traffic-back', 'left');
    expect(log.history.list('left')[0]).toMatchObject({ row: 'F5', resolvedAt: '2026-12-07T08:00:20.000Z' });
    expect(log.history.list('right')[0]!.resolvedAt).toBeUndefined();
    expect(log.lastFailure).toMatchObject({ row: 'F5', evidence: { outboundDelta: 12 } });
  });

  it('F1: the first sign is lastFailure at once, the final F1 replaces it, and an IKE SA that comes up resolves it (lastFailure null)', () => {
    const { log, at } = setup();
    log.record(pending, 'left');
    expect(log.lastFailure).toMatchObject({ row: 'F1', fixArea: 'outer firewall, routing, peer address', evidence: { pending: true } });
    at(165_000);
    log.record(final, 'left');
    expect(log.history.list('left')).toHaveLength(1);
    expect(log.lastFailure).toMatchObject({ row: 'F1', evidence: { retransmits: 5 } });
    at(200_000);
    log.record(up, 'left');
    expect(log.lastFailure).toBeNull();
    expect(log.history.list()).toEqual([expect.objectContaining({ row: 'F1', at: '2026-12-07T08:02:45.000Z', resolvedAt: '2026-12-07T08:03:20.000Z' })]);
    expect(log.failuresOf.get('left')).toEqual({ F1: 1 }); // counted once per failure, not its first sign (metrics)
  });

  it('resolution is per connection: an IKE SA of another connection leaves this one\'s F1 open', () => {
    const { log } = setup();
    log.record(final, 'left');
    log.record(up, 'other');
    expect(log.history.lastUnresolved('left')).toMatchObject({ row: 'F1' });
    expect(log.history.lastUnresolved('other')).toBeNull();
  });

  it('a row is resolved only by what clears it: F8 not by an IKE SA, F6 by a later rekey, F5 by routes back', () => {
    const { log } = setup();
    log.record(f8, 'left');
    log.record(up, 'left');
    expect(log.lastFailure?.row).toBe('F8');
    log.resolve('traffic-on-new-mapping', 'left');
    expect(log.lastFailure).toBeNull();
    log.failure('F5', 'routes gone', { missing: ['x'] });
    log.record({ type: 'failure', row: 'F6', message: 'rekey refused', evidence: { scope: 'child', result: 'refused', lifetimes: {}, pfsGroup: null, oldSpis: [], newSpis: [] } }, 'left');
    expect(log.lastFailure?.row).toBe('F6');
    log.record({ type: 'child-rekeyed', name: 'c', oldSpiIn: 'a', oldSpiOut: 'b', newSpiIn: 'c', newSpiOut: 'd', pfsGroup: null }, 'left');
    expect(log.lastFailure?.row).toBe('F5');
    log.resolve('routes-back');
    expect(log.lastFailure).toBeNull();
    expect(log.history.list().map((f) => [f.row, f.resolvedAt !== undefined])).toEqual([['F6', true], ['F5', true], ['F8', true]]);
  });

  it('keeps HISTORY_PER_CONNECTION per connection and HISTORY_TOTAL for the daemon, newest first', () => {
    const h = new FailureHistory();
    for (let i = 0; i < 30; i++) h.add({ row: 'F2', message: `m${i}`, fixArea: '', at: String(i) }, i % 2 ? 'a' : 'b');
    expect(h.list('a')).toHaveLength(HISTORY_PER_CONNECTION);
    expect(h.list('a')[0]!.message).toBe('m29');
    expect(h.list()).toHaveLength(HISTORY_TOTAL);
    expect(h.list()[0]!.message).toBe('m29');
  });
});
