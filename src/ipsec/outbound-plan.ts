// The scratch plan of processOutbound's first pass (src/ipsec/outbound.ts): one slot per
// packet to be sealed. Each Sad owns one, so a batch allocates no plan and SADs share
// nothing; processOutbound runs to completion synchronously, so one plan per SAD suffices.

const MIN_SLOTS = 64;

export class OutboundPlan {
  planIndex = new Int32Array(MIN_SLOTS);
  payloadStart = new Int32Array(MIN_SLOTS);
  payloadEnd = new Int32Array(MIN_SLOTS);
  nextHeader = new Uint8Array(MIN_SLOTS);
  padLength = new Uint8Array(MIN_SLOTS);
  espLength = new Int32Array(MIN_SLOTS);
  seqHigh = new Uint32Array(MIN_SLOTS);
  seqLow = new Uint32Array(MIN_SLOTS);

  /** Room for n packets: grows (never shrinks) when a batch is larger than any before. */
  reserve(n: number): this {
    if (this.planIndex.length < n) {
      this.planIndex = new Int32Array(n);
      this.payloadStart = new Int32Array(n);
      this.payloadEnd = new Int32Array(n);
      this.nextHeader = new Uint8Array(n);
      this.padLength = new Uint8Array(n);
      this.espLength = new Int32Array(n);
      this.seqHigh = new Uint32Array(n);
      this.seqLow = new Uint32Array(n);
    }
    return this;
  }
}
