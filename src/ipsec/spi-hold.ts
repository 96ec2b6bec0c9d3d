// ESP that arrives for an SPI we are about to install.
//
// When we initiate an exchange that creates a Child SA (IKE_AUTH, CREATE_CHILD_SA; RFC 7296
// §1.2, §1.3), the responder installs its SAs before it answers and may start sending on the
// new one at once: strongSwan does after a make-before-break reauthentication (§2.8.3). That
// ESP can reach us a moment before the response that tells us the SA. RFC 4303 §3.4.2 says a
// packet with no SA is discarded; we discard it too, but only after a short wait: while such a
// request is in flight, an unknown-SPI packet is copied here, and delivered if its SA is
// installed within HOLD_MS, else counted as 'unknown-spi' as it would have been at once.
// The hold is bounded in packets and time; when full, packets are dropped as before.

export const HOLD_MS = 500;
export const HOLD_PACKETS = 64;

interface Held {
  pkt: Uint8Array;
  spi: number;
  viaUdp: boolean;
  until: number;
}

export class SpiHold {
  private held: Held[] = [];
  /** Packets held, and of those, handed back because their SA came (the rest were counted as unknown-spi). */
  readonly stats = { held: 0, released: 0 };

  constructor(
    private readonly holdMs = HOLD_MS,
    private readonly limit = HOLD_PACKETS,
  ) {}

  get size(): number {
    return this.held.length;
  }

  /** Keep a copy of `pkt` (a view the caller will reuse); false when the hold is full. */
  offer(pkt: Uint8Array, spi: number, viaUdp: boolean, now: number): boolean {
    if (this.held.length >= this.limit) return false;
    this.held.push({ pkt: pkt.slice(), spi, viaUdp, until: now + this.holdMs });
    this.stats.held++;
    return true;
  }

  /** When the oldest held packet's wait ends (undefined when empty). */
  nextDeadline(): number | undefined {
    return this.held.length > 0 ? this.held[0].until : undefined;
  }

  /**
   * Take out, in arrival order, the packets whose SPI is now known (`known`) or whose wait is
   * over at `now`. Packets that arrived over UDP and raw are returned apart, as they were read.
   */
  take(now: number, known: (spi: number) => boolean): { udp: Uint8Array[]; raw: Uint8Array[]; released: number } {
    const out = { udp: [] as Uint8Array[], raw: [] as Uint8Array[], released: 0 };
    const keep: Held[] = [];
    for (const h of this.held) {
      if (known(h.spi)) {
        out.released++;
      } else if (h.until > now) {
        keep.push(h);
        continue;
      }
      (h.viaUdp ? out.udp : out.raw).push(h.pkt);
    }
    this.held = keep;
    this.stats.released += out.released;
    return out;
  }

  /** Forget everything held (shutdown): the packets are counted by nobody, as on a closed socket. */
  clear(): void {
    this.held = [];
  }
}
