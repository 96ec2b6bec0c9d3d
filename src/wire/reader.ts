// A bounds-checked cursor over a byte slice. Every read either succeeds or throws
// WireError('truncated') naming the absolute offset, so decoders check each length once.

import { WireError } from './errors.js';

export class Reader {
  private pos = 0;

  /**
   * @param bytes the slice to read (not copied)
   * @param base  absolute offset of bytes[0], used in error offsets
   */
  constructor(
    private readonly bytes: Uint8Array,
    readonly base = 0,
  ) {}

  /** Absolute offset of the next byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number): void {
    if (n > this.bytes.length - this.pos) throw new WireError('truncated', this.offset);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }

  u16(): number {
    this.need(2);
    const v = (this.bytes[this.pos] << 8) | this.bytes[this.pos + 1];
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** A copy of the next n bytes (records never alias the datagram buffer). */
  bytesCopy(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The rest of the slice, copied. */
  rest(): Uint8Array {
    return this.bytesCopy(this.remaining);
  }

  /** A sub-reader over the next n bytes, with absolute offsets preserved. */
  sub(n: number): Reader {
    this.need(n);
    const r = new Reader(this.bytes.subarray(this.pos, this.pos + n), this.offset);
    this.pos += n;
    return r;
  }
}
