// A bounded writer of JSON lines to one streaming control client (`tsvpn events`): the daemon
// never waits for a client, and a client that reads slowly never makes the daemon buffer
// without end. Once `maxBytes` are queued for the socket, lines are dropped and counted; the
// client is told how many (a "dropped" line) as soon as there is room again.
import { droppedLine, type EventLine } from './event-lines.js';

/** What the writer needs of a socket (a net.Socket, or a fake in tests). */
export interface LineSink {
  write(text: string): boolean;
  readonly writableLength: number;
  once(event: 'drain', f: () => void): unknown;
}

/** Queued bytes per events client before lines are dropped. */
export const EVENTS_CLIENT_BUFFER = 256 * 1024;

export class BoundedLineWriter {
  /** Lines dropped since the last "dropped" line was written. */
  private pending = 0;
  /** Lines dropped over this client's life. */
  dropped = 0;
  private waiting = false;

  constructor(
    private readonly sink: LineSink,
    private readonly now: () => number = Date.now,
    private readonly maxBytes = EVENTS_CLIENT_BUFFER,
  ) {}

  push(line: EventLine): void {
    const text = `${JSON.stringify(line)}\n`;
    if (this.pending > 0) this.flushDropped();
    if (this.pending > 0 || this.sink.writableLength + text.length > this.maxBytes) return this.drop();
    this.sink.write(text);
  }

  private drop(): void {
    this.pending++;
    this.dropped++;
    if (this.waiting) return;
    this.waiting = true;
    this.sink.once('drain', () => {
      this.waiting = false;
      this.flushDropped();
    });
  }

  /** Say how many lines were dropped, when the notice fits. */
  private flushDropped(): void {
    const text = `${JSON.stringify(droppedLine(this.pending, new Date(this.now()).toISOString()))}\n`;
    if (this.sink.writableLength + text.length > this.maxBytes) return;
    this.sink.write(text);
    this.pending = 0;
  }
}
