// One exchange of an IKE SA as a task (DESIGN.md "Exchanges as tasks", after strongSwan's
// libcharon/sa/ikev2/tasks without its globals): the initiator of an exchange builds the
// request and processes the response; the responder processes the request and answers.
// A task keeps its own in-flight state (the KE private key and nonce of a rekey, the Child SA
// it offered) and reads or updates the state the IKE SA's tasks share (SaContext). It never
// sends, arms a timer or changes the IKE SA's state itself: it returns one TaskResult, which
// the IKE SA (ike-sa.ts) applies. The IKE SA runs one request at a time (RFC 7296 §2.3,
// window 1) from a queue of tasks.
import type { IkeMessage, Payload, Proposal } from '../wire/types.js';
import type { Endpoint } from './config.js';
import type { Effect, IkeState, MoveNoticedBy } from './effects.js';
import type { SaContext, SaKeys } from './sa-context.js';

export type TaskKind = 'ike-init' | 'ike-auth' | 'auth-failed' | 'child-rekey' | 'ike-rekey' | 'delete-ike' | 'delete-child' | 'liveness' | 'mapping-probe' | 'mtu-probe' | 'informational' | 'create-child' | 'mobike';

/** The addresses a datagram travelled between. */
export interface Path { from: Endpoint; to: Endpoint }

/** Why an IKE SA ends (the `ike-deleted` event's reason). */
export type EndReason = 'local' | 'peer' | 'dead-peer' | 'half-open-timeout' | 'failed' | 'rekeyed' | 'expired';

/** A message a task processes: a response to its request, or a request it answers. */
export interface Received {
  msg: IkeMessage;
  bytes: Uint8Array;
  /** The payloads after the rules check, decrypted for everything after IKE_SA_INIT. */
  payloads: Payload[];
  path: Path;
  now: number;
  /** The IKE SA's state and the request it has in flight, for collisions (RFC 7296 §2.8.1) and §2.25 busy answers. */
  state: IkeState;
  active?: Task;
}

/**
 * What processing a message (or giving up on a request) leads to. The IKE SA applies the
 * fields in this order: ignored, response, established, connecting, handOver, next, end.
 */
export interface TaskResult {
  /** Not a valid message for this exchange: counted as malformed; nothing changed. */
  ignored?: boolean;
  /** Responder: the payloads of the response. */
  response?: Payload[];
  /** Initiator: send this task's request again, rebuilt, under the same Message ID (COOKIE, INVALID_KE_PAYLOAD in IKE_SA_INIT). */
  again?: boolean;
  /** IKE_AUTH succeeded: the IKE SA is ESTABLISHED. */
  established?: boolean;
  /** Responder: IKE_SA_INIT answered, the SA is half-open until IKE_AUTH. */
  connecting?: boolean;
  /** RFC 7296 §2.18: a new IKE SA takes over the Child SAs; this one becomes `then`. */
  handOver?: HandOver;
  /** Responder: the IKE SA moves to the request's path (RFC 4555 §3.5 UPDATE_SA_ADDRESSES), as it follows a NAT mapping change. */
  follow?: MoveNoticedBy;
  /** Requests this result starts, queued in order behind the window. */
  next?: Task[];
  /** The IKE SA is over. `peerDeleted`: the peer's Delete ended it, which may complete a rekey. */
  end?: { to: 'DELETED' | 'FAILED'; reason: EndReason; peerDeleted?: boolean };
}

/** A new IKE SA made by a rekey exchange: who initiated it, its SPIs, nonces and keys. */
export interface NewIkeSa {
  role: 'initiator' | 'responder'; // RFC 7296 §2.18: the rekey initiator is the new SA's original initiator
  spiI: Uint8Array;
  spiR: Uint8Array;
  ni: Uint8Array;
  nr: Uint8Array;
  chosen: Proposal;
  keys: SaKeys;
}

export interface HandOver {
  successor: NewIkeSa;
  /** The losing IKE SA of a rekey collision (RFC 7296 §2.8.1), kept only for its Delete exchange (ours to send when `deleteIt`). */
  redundant?: { sa: NewIkeSa; deleteIt: boolean };
  then: 'REKEYED' | 'DELETING';
}

/** Where a request went and how often it was sent again, when its retransmissions ran out. */
export interface GaveUp { retransmits: number; to: Endpoint; from: Endpoint }

export interface Task {
  readonly kind: TaskKind;
  /** Exchange type (wire/constants ExchangeType). */
  readonly exchange: number;
  /** Initiator: the request's payloads, when it is sent; undefined when it is no longer needed. */
  build?(ctx: SaContext, state: IkeState): Payload[] | undefined;
  /** Initiator: the response. Responder: the request, answered with `response`. */
  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult;
  /**
   * Initiator: the payloads to send instead when retransmission number `attempt` (1, 2, ...) is
   * due, under the same Message ID (the MTU probe shrinks its padding); absent: the same bytes again.
   */
  retransmit?(ctx: SaContext, attempt: number): Payload[] | undefined;
  /** Initiator: the request was retransmitted until the retries ran out (default: the peer is dead, RFC 7296 §2.4). */
  giveUp?(ctx: SaContext, g: GaveUp, out: Effect[]): TaskResult;
  /** The task was queued and will never run (its IKE SA was replaced or closed). */
  dropped?(ctx: SaContext): void;
  /** Zero what the task holds (a KE private key, keys of an IKE SA not yet handed over). */
  dispose?(): void;
}
