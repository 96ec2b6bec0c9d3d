// The scratch of processInbound (src/ipsec/inbound.ts): its first pass's plan, one slot per
// ESP packet that passed the SPI, length and replay pre-checks and will be opened, and a
// whole-buffer view per receive slab the packets are views into, so each run of one SA's
// packets in one slab is opened with one call. Each Sad owns one; processInbound runs to
// completion synchronously, so one per SAD suffices.

const MIN_SLOTS = 64;

/** `Sa`: the SAD's SA type (EspSa; a parameter so this file needs no import of sad.ts). */
export class InboundPlan<Sa extends object> {
  /** Index of the packet in the input batch. */
  planIndex = new Int32Array(MIN_SLOTS);
  /** Where the ESP packet starts in its buffer's whole view, and its length. */
  offset = new Uint32Array(MIN_SLOTS);
  length = new Uint32Array(MIN_SLOTS);
  seqLow = new Uint32Array(MIN_SLOTS);
  /** The high 32 bits the replay pre-check inferred (RFC 4303 Appendix A; 0 without ESN). */
  seqHigh = new Uint32Array(MIN_SLOTS);
  /** 1 when the ICV verified (set by EspTransform.openRun). */
  ok = new Uint8Array(MIN_SLOTS);
  /** 1: the same SA and sequence number as an earlier slot, opened only if the window still takes it. */
  deferred = new Uint8Array(MIN_SLOTS);
  /** The SA and whole-buffer view of each slot (cleared after each batch: they hold no SA past it). */
  readonly sa: Sa[] = [];
  readonly buf: Uint8Array[] = [];
  private readonly whole = new WeakMap<ArrayBufferLike, Uint8Array>();
  private lastBuffer: ArrayBufferLike | undefined;
  private lastView: Uint8Array | undefined;

  /** Room for n packets: grows (never shrinks) when a batch is larger than any before. */
  reserve(n: number): this {
    if (this.planIndex.length < n) {
      this.planIndex = new Int32Array(n);
      this.offset = new Uint32Array(n);
      this.length = new Uint32Array(n);
      this.seqLow = new Uint32Array(n);
      this.seqHigh = new Uint32Array(n);
      this.ok = new Uint8Array(n);
      this.deferred = new Uint8Array(n);
    }
    return this;
  }

  /** A view of all of `pkt`'s buffer (made once per buffer: receive slabs are few and reused). */
  wholeOf(pkt: Uint8Array): Uint8Array {
    const ab = pkt.buffer;
    if (ab === this.lastBuffer) return this.lastView!; // a batch's packets share one slab: no lookup per packet
    let view = this.whole.get(ab);
    if (!view) {
      view = new Uint8Array(ab);
      this.whole.set(ab, view);
    }
    this.lastBuffer = ab;
    this.lastView = view;
    return view;
  }

  /** Is slot k's (SA, sequence number) that of an earlier slot? (A duplicate within the batch.) */
  repeats(k: number): boolean {
    const sa = this.sa[k];
    for (let j = 0; j < k; j++) {
      if (this.sa[j] === sa && this.seqLow[j] === this.seqLow[k] && this.seqHigh[j] === this.seqHigh[k]) return true;
    }
    return false;
  }

  clear(): void {
    this.sa.length = 0;
    this.buf.length = 0;
    this.lastBuffer = this.lastView = undefined; // keep no buffer alive past the batch
  }
}
