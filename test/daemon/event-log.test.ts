// Failures of IKE SAs that never authenticated their peer (issue 13 hole 1): a flood of refused
// IKE_SA_INIT requests must neither flood the log nor hide the tunnel's own last failure.
import { describe, it, expect } from 'vitest';
import { IkeEventLog, UNAUTHENTICATED_LOG_LINES, UNAUTHENTICATED_LOG_WINDOW_MS } from '../../src/daemon/event-log.js';
import { lineLogger } from '../../src/daemon/log.js';
import type { FailureEvent } from '../../src/ike/effects.js';

const refused = (i: number): FailureEvent => ({
  type: 'failure',
  row: 'F2',
  message: 'no acceptable IKE proposal',
  evidence: { scope: 'ike', ours: ['aes256gcm16-prfsha256-x25519'], theirs: ['aes128-sha256-modp2048'] },
  unauthenticated: { from: { addr: `203.0.113.${i % 250}`, port: 500 } },
});

function setup() {
  const lines: string[] = [];
  let now = 0;
  const log = new IkeEventLog(lineLogger((l) => lines.push(l)), () => now, () => 1_800_000_000_000 + now);
  return { log, lines, at: (t: number) => (now = t) };
}

describe('unauthenticated failures in the event log', () => {
  it('30,000 refused requests in 10 s write at most UNAUTHENTICATED_LOG_LINES lines, then one summary line', () => {
    const { log, lines, at } = setup();
    for (let i = 0; i < 30_000; i++) {
      at(Math.floor(i / 3)); // 3,000 per second
      log.record(refused(i));
    }
    expect(lines).toHaveLength(UNAUTHENTICATED_LOG_LINES);
    expect(lines[0]).toMatch(/warn .*F2: no acceptable IKE proposal \(from 203\.0\.113\.0:500, not authenticated\)/);
    // the summary comes on the log's own deadline, without another failure
    expect(log.nextDeadline()).toBe(UNAUTHENTICATED_LOG_WINDOW_MS);
    at(UNAUTHENTICATED_LOG_WINDOW_MS);
    log.flush(UNAUTHENTICATED_LOG_WINDOW_MS);
    expect(lines).toHaveLength(UNAUTHENTICATED_LOG_LINES + 1);
    expect(lines.at(-1)).toMatch(/29990 more unauthenticated failures suppressed/);
    expect(log.nextDeadline()).toBeUndefined();
    expect(log.unauthenticated).toEqual({ 'unauthenticated-F2': 30_000 });
  });

  it('keeps the connection’s own last failure; unauthenticated ones never replace it', () => {
    const { log, at } = setup();
    at(5);
    log.record({ type: 'failure', row: 'F1', message: 'peer does not answer', evidence: { retransmits: 5, to: { addr: '192.0.2.1', port: 500 }, from: { addr: '192.0.2.2', port: 500 }, exchange: 'IKE_SA_INIT' } });
    for (let i = 0; i < 100; i++) log.record(refused(i));
    expect(log.lastFailure).toMatchObject({ row: 'F1', message: 'peer does not answer' });
  });

  it('shows the newest unauthenticated failure apart, with its source and a count: a misconfigured peer is still explained', () => {
    const { log, at } = setup();
    at(7);
    for (let i = 0; i < 3; i++) log.record(refused(i));
    expect(log.lastFailure).toBeNull();
    expect(log.lastUnauthenticatedFailure).toMatchObject({ row: 'F2', message: 'no acceptable IKE proposal', from: '203.0.113.2:500', count: 3, evidence: { theirs: ['aes128-sha256-modp2048'] } });
  });

  it('logs again in the next window', () => {
    const { log, lines, at } = setup();
    for (let i = 0; i < 20; i++) log.record(refused(i));
    at(UNAUTHENTICATED_LOG_WINDOW_MS + 1);
    log.record(refused(1));
    expect(lines).toHaveLength(UNAUTHENTICATED_LOG_LINES + 2); // 10, the summary of 10 suppressed, 1
    expect(lines[UNAUTHENTICATED_LOG_LINES]).toMatch(/10 more unauthenticated failures suppressed/);
  });
});

describe('failures counted as they happen (tsvpn metrics, tsvpn events)', () => {
  it('counts each recorded failure by connection and row, tells the listener, and leaves unauthenticated ones out', () => {
    const { log } = setup();
    const told: string[] = [];
    log.onFailure = (f, conn) => told.push(`${conn}:${f.row}`);
    const f1: FailureEvent = { type: 'failure', row: 'F1', message: 'no answer', evidence: { retransmits: 3, to: { addr: '192.0.2.2', port: 500 }, from: { addr: '192.0.2.1', port: 500 }, exchange: 'IKE_SA_INIT' } };
    log.record(f1, 'a');
    log.record(f1, 'a');
    log.record(f1, 'b');
    log.failure('F5', 'routes could not be installed', {}, 'a');
    log.record(refused(1), 'a');
    expect(log.failuresOf.get('a')).toEqual({ F1: 2, F5: 1 });
    expect(log.failuresOf.get('b')).toEqual({ F1: 1 });
    expect(told).toEqual(['a:F1', 'a:F1', 'b:F1', 'a:F5']);
  });
});
