// What every path of the throughput bench provides once it is up, and the settings every
// tunnel leg shares so that they are measured doing the same work.

/** IKE proposal of every tunnel leg (strongSwan and tsvpn). */
export const IKE_PROPOSAL = 'aes256gcm16-prfsha256-x25519';
/** ESP proposal: AES-256-GCM with a 16-octet ICV (RFC 4106), as wireguard-go's AEAD is one cipher too. */
export const ESP_PROPOSAL = 'aes256gcm16';

export interface Leg {
  /** What was measured: version, encapsulation, MTU, algorithms. */
  detail: string;
  /** Bytes the left end's tunnel counted (in + out), to prove the traffic went through it; null without a tunnel. */
  carried(): Promise<number | null>;
  /** The tunnel's own processes (both ends) whose CPU time and system calls are measured; absent: not measured. */
  pids?: number[];
  stop(): Promise<void>;
}

/** A path that cannot run on this machine (a tool is missing): reported with the reason, not counted as a failure. */
export class PathSkipped extends Error {
  override name = 'PathSkipped';
}
