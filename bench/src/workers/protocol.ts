/** What the parent tells a relay worker (as its first argument, JSON). */
export interface WorkerConfig {
  readonly db: 'pg' | 'mysql';
  readonly schema?: string;
  readonly database?: string;
  readonly stream: string;
  readonly mode: 'drain' | 'run';
  readonly batchSize?: number;
  /** Drain mode: stop claiming after this long (the in-flight batch still completes). */
  readonly timeLimitMs?: number;
}

/** What a relay worker reports back over IPC. */
export type WorkerMessage =
  | { readonly type: 'ready'; readonly rssMb: number }
  | {
      readonly type: 'done';
      readonly published: number;
      readonly batches: number;
      readonly failed: number;
      readonly startMs: number;
      readonly endMs: number;
      readonly idleRssMb: number;
      readonly peakRssMb: number;
      readonly maxRssMb: number;
      /** The worker's user + system CPU seconds from `go` to the end of the drain. */
      readonly cpuSeconds: number;
      /** The relay's claims: how many, how many came back empty or short of a batch, rows, and time spent. */
      readonly counts: ClaimCounts;
    }
  | { readonly type: 'acks'; readonly ids: string[]; readonly times: number[] }
  | { readonly type: 'error'; readonly message: string };

export type DoneMessage = Extract<WorkerMessage, { type: 'done' }>;

/** What a relay worker counted around its store (see relay-worker.mjs). */
export interface ClaimCounts {
  readonly claims: number;
  readonly emptyClaims: number;
  readonly shortClaims: number;
  readonly claimedRows: number;
  readonly claimMs: number;
  readonly completes: number;
  readonly completeMs: number;
}
