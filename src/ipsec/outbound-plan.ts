// The scratch of processOutbound (src/ipsec/outbound.ts): its first pass's plan, one slot
// per packet to be sealed, and the slab its second pass seals the batch into. Each Sad owns
// one, so a batch allocates no plan and no slab, and SADs share nothing; processOutbound runs
// to completion synchronously, so one per SAD suffices. The ESP packets of a batch are views
// into the slab: valid until the next processOutbound with the same SAD.

const MIN_SLOTS = 64;
const MIN_SLAB = 64 * 1500; // a TUN batch of full-size packets

export class OutboundPlan {
  planIndex = new Int32Array(MIN_SLOTS);
  payloadStart = new Int32Array(MIN_SLOTS);
  payloadEnd = new Int32Array(MIN_SLOTS);
  nextHeader = new Uint8Array(MIN_SLOTS);
  padLength = new Uint8Array(MIN_SLOTS);
  espLength = new Uint32Array(MIN_SLOTS);
  seqHigh = new Uint32Array(MIN_SLOTS);
  seqLow = new Uint32Array(MIN_SLOTS);
  /** Pass 2: where each packet starts in the slab, and its plaintext (payload and trailer) length. */
  espOffset = new Uint32Array(MIN_SLOTS);
  ptLength = new Uint32Array(MIN_SLOTS);
  /** The sealed ESP packets of the last batch, back to back (grows, never shrinks; never zero-filled again). */
  slab = new Uint8Array(MIN_SLAB);

  /** Room for n packets: grows (never shrinks) when a batch is larger than any before. */
  reserve(n: number): this {
    if (this.planIndex.length < n) {
      this.planIndex = new Int32Array(n);
      this.payloadStart = new Int32Array(n);
      this.payloadEnd = new Int32Array(n);
      this.nextHeader = new Uint8Array(n);
      this.padLength = new Uint8Array(n);
      this.espLength = new Uint32Array(n);
      this.seqHigh = new Uint32Array(n);
      this.seqLow = new Uint32Array(n);
      this.espOffset = new Uint32Array(n);
      this.ptLength = new Uint32Array(n);
    }
    return this;
  }

  /**
   * The slab with room for `bytes` octets. Reused from batch to batch: every octet of an ESP
   * packet (header, IV, payload, padding, trailer, ICV) is written before it is sent, so old
   * contents are never zeroed.
   */
  slabFor(bytes: number): Uint8Array {
    if (this.slab.length < bytes) this.slab = new Uint8Array(Math.max(bytes, this.slab.length * 2));
    return this.slab;
  }
}
