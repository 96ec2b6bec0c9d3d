// A slow events client: lines beyond the bound are dropped, counted and announced; the daemon never waits.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';

import { BoundedLineWriter, type LineSink } from '../../src/daemon/line-writer.js';

/** A socket whose reader reads nothing until told to. */
class StuckSink extends EventEmitter implements LineSink {
  readonly written: string[] = [];
  writableLength = 0;
  write(text: string): boolean {
    this.written.push(text);
    this.writableLength += text.length;
    return false;
  }
  /** The reader catches up: everything queued is sent. */
  readAll(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
}

const line = (i: number) => ({ time: 't', connection: 'c', event: 'retransmit', attempt: i });

describe('bounded events writer', () => {
  it('queues at most its bound, drops the rest and says how many once the reader catches up', () => {
    const sink = new StuckSink();
    const w = new BoundedLineWriter(sink, () => 0, 1000);
    for (let i = 0; i < 100; i++) w.push(line(i));
    expect(sink.writableLength).toBeLessThanOrEqual(1000);
    const kept = sink.written.length;
    expect(kept).toBeGreaterThan(5);
    expect(w.dropped).toBe(100 - kept);
    sink.readAll();
    const notice = JSON.parse(sink.written.at(-1)!) as { event: string; count: number };
    expect(notice).toMatchObject({ event: 'dropped', count: 100 - kept });
    // lines flow again after the notice, in order
    w.push(line(100));
    expect(JSON.parse(sink.written.at(-1)!)).toMatchObject({ event: 'retransmit', attempt: 100 });
    expect(w.dropped).toBe(100 - kept);
  });

  it('never drops for a reader that keeps up', () => {
    const sink = new StuckSink();
    const w = new BoundedLineWriter(sink, () => 0, 1000);
    for (let i = 0; i < 1000; i++) {
      w.push(line(i));
      sink.readAll();
    }
    expect(w.dropped).toBe(0);
    expect(sink.written).toHaveLength(1000);
    expect(sink.written.every((t) => t.endsWith('\n') && !t.includes('"dropped"'))).toBe(true);
  });
});
