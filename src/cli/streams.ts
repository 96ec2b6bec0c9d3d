// What a command writes to and reads its environment from: the process's streams in
// `tsvpn`, strings in tests. Its own file so that the commands main.ts loads (up, demo,
// echo) do not import main.ts back.

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Aborted when whoever reads `out` has gone (EPIPE: `tsvpn events | head`), so a command that follows a stream stops. */
  outClosed?: AbortSignal;
}
