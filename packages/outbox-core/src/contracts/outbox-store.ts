import type { OutboxEvent } from '../event/event.js';

/**
 * An outbox row claimed for publishing. `payload` is the event's `data` as JSON text, passed to the
 * bus without re-parsing; `headers` are the event's own headers (traceparent, correlation ids).
 */
export interface OutboxRecord {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  /** The aggregate key that orders events. */
  readonly subject: string;
  /**
   * The record's place among its subject's events (1, 2, 3...), stamped by `enqueue` in the
   * producer's transaction; `undefined` for a row written without it (see `OutboxEvent.sequence`).
   */
  readonly sequence?: number;
  /** ISO 8601. */
  readonly time: string;
  readonly payload: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Failed attempts so far (0 on the first try). */
  readonly attempts: number;
  /**
   * Set when the row's payload is over the store's `maxEventBytes` (written before the limit, or
   * around `enqueue`): its size in bytes. The store left the payload in the database (`payload`
   * is empty); the relay dead-letters the record as `PAYLOAD_TOO_LARGE` without publishing it.
   */
  readonly oversizedBytes?: number;
}

/** A claim: the rows leased to one relay until `leaseUntil`, fenced by `token`. */
export interface ClaimedBatch {
  readonly token: string;
  /** In the order the rows were written. At most one row per subject (the subject's head). */
  readonly records: readonly OutboxRecord[];
  /** When the lease ends, on the caller's clock (taken before the claim: never later than the database's lease). */
  readonly leaseUntil: Date;
}

/** Options of `OutboxStore.claim`. */
export interface ClaimOptions {
  /** Records per claim at most. */
  readonly batchSize: number;
  /** How long the claimed rows stay reserved for this claimer; past it another relay may take them. */
  readonly leaseMs: number;
  /**
   * The byte budget: records are added while the payload bytes of those before them are under it,
   * whatever `batchSize` says (so a batch holds at most this plus one record). Oversized records
   * count 0. @defaultValue `DEFAULT_MAX_BATCH_BYTES` (8 MiB)
   */
  readonly maxBatchBytes?: number;
  /** Aborts the claim. */
  readonly signal?: AbortSignal;
}

/** A row handed back after a failed publish, to be tried again `retryAfterMs` from now. */
export interface ReleaseEntry {
  readonly id: string;
  /**
   * Delay before the row is ready again, counted by the store from the database's clock (`now()`
   * on the server), so a relay whose clock is skewed neither delays nor advances retries. 0: at once.
   */
  readonly retryAfterMs: number;
  readonly error: string;
  /** False when the bus itself was unreachable: an outage must not use up an event's attempts. */
  readonly countAttempt: boolean;
}

/** A row to move to the dead state after its last attempt. */
export interface DeadLetterEntry {
  readonly id: string;
  readonly error: string;
}

/** A dead row, for operators to list, inspect and replay. */
export interface DeadRecord extends OutboxRecord {
  readonly lastError: string;
  readonly deadAt: Date;
}

/** Options of `OutboxStore.listDead`: one page of dead rows, oldest first. */
export interface ListDeadOptions {
  /** @defaultValue 100 */
  readonly limit?: number;
  /** Keyset pagination: rows written after this id. */
  readonly afterId?: string;
}

/** The outbox's counts for dashboards and `outbox-relay status`, from one query. */
export interface OutboxStats {
  /** Rows not yet published and not dead (leased ones included). */
  readonly pending: number;
  /** Age of the oldest pending row, `null` when none: the relay's lag. */
  readonly oldestPendingAgeMs: number | null;
  /** Rows dead-lettered and not purged. */
  readonly dead: number;
}

/** The pending rows of one subject (`subjectBacklog`): where a stuck subject shows. */
export interface SubjectBacklog {
  readonly subject: string;
  readonly pending: number;
  readonly oldestPendingAgeMs: number;
}

/** A pending row whose publish failed and that waits for its retry (`listFailing`). */
export interface FailingRecord {
  readonly id: string;
  readonly subject: string;
  readonly type: string;
  /** Failed attempts so far. */
  readonly attempts: number;
  readonly lastError: string | null;
  /** How long until it is tried again, on the database's clock (0 when due). */
  readonly retryInMs: number;
}

/** What `migrate()` did. */
export interface MigrationResult {
  /** The schema version now in the database. */
  readonly version: number;
  /** Versions applied by this call, in order; empty when already up to date. */
  readonly applied: readonly number[];
}

/** What a store can do, as data: the relay adapts to it instead of testing for a dialect. */
export interface OutboxStoreCapabilities {
  /** The store implements `waitForWork` with a push signal (LISTEN/NOTIFY); otherwise the relay polls adaptively. */
  readonly wakeUp: boolean;
  /** Several relays can claim from the same table concurrently without breaking per-subject order. */
  readonly concurrentClaimers: boolean;
  /**
   * A dead row holds back its subject's later rows (the store's `deadBlocksSubject` option): the
   * relay then publishes no gap marker for it, and `replayDead` keeps its sequence. Otherwise the
   * relay publishes a gap marker before dead-lettering a row with a sequence, and `replayDead`
   * stamps the row with a new sequence at the end of its subject. @defaultValue false
   */
  readonly deadBlocksSubject?: boolean;
  /**
   * The relay claims ahead (`RelayOptions.claimAhead`) unless told otherwise: the store's claim
   * costs about the same however many rows other relays hold leased (MariaDB reads a bounded window
   * by primary key), so claiming ahead speeds one relay and several alike. A store whose claim
   * walks past leased rows (PostgreSQL's head index) leaves it unset. @defaultValue false
   */
  readonly claimAhead?: boolean;
}

/** Options of `OutboxStore.waitForWork`. */
export interface WaitForWorkOptions {
  /** Resolve after this long even when nothing was signalled. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * The outbox table of one service. `Tx` is the driver's transaction handle (a `pg` client inside
 * `BEGIN`, a mysql2 connection inside `START TRANSACTION`).
 *
 * Contract, checked by `describeOutboxStore` in `@outboxkit/outbox-core/conformance`:
 * - `enqueue` writes inside the caller's transaction and never begins, commits or releases it;
 * - `claim` leases ready rows, at most one per subject and only a subject's oldest pending row,
 *   so that any number of relays publish each subject in the order its rows were written; rows
 *   waiting for a retry hold back their own subject only; dead rows hold back nothing, unless the
 *   store was built with `deadBlocksSubject` (then a dead row holds back the later rows of its
 *   subject until it is retried or purged);
 * - lease and retry times are computed on the database's clock (`leaseMs`, `retryAfterMs` are
 *   added to the server's `now()`); `ClaimedBatch.leaseUntil` is the relay-side deadline, taken
 *   on the caller's clock before the claim, so it never ends after the database's lease;
 * - `complete`, `release` and `deadLetter` act only on rows still leased under `token`
 *   (a relay whose lease expired changes nothing) and return how many rows they changed;
 * - no method holds a database transaction open across calls.
 */
export interface OutboxStore<Tx = unknown> {
  readonly capabilities: OutboxStoreCapabilities;
  /**
   * The largest event `enqueue` writes (payload plus headers, UTF-8 bytes); `claim` hands back a
   * row whose payload is larger with `oversizedBytes` and without its payload.
   */
  readonly maxEventBytes?: number;

  /**
   * Appends events inside the caller's open transaction, in one round trip.
   * @throws OutboxUsageError when `tx` is a pool or not inside a transaction; nothing is written.
   * @throws EventValidationError naming the offending path, or the event when it is over
   *   `maxEventBytes`; nothing is written.
   */
  enqueue(tx: Tx, events: OutboxEvent | readonly OutboxEvent[]): Promise<void>;

  /** Leases up to `batchSize` ready subject heads for `leaseMs`, within the `maxBatchBytes` budget. */
  claim(options: ClaimOptions): Promise<ClaimedBatch>;

  /** Removes (or marks) published rows in one statement. */
  complete(token: string, ids: readonly string[]): Promise<number>;

  /** Ends the lease of rows whose publish failed; they become ready again `retryAfterMs` after the database's now. */
  release(token: string, entries: readonly ReleaseEntry[]): Promise<number>;

  /** Moves rows to the dead state with their last error. */
  deadLetter(token: string, entries: readonly DeadLetterEntry[]): Promise<number>;

  /** One page of dead rows, in the order they were written. */
  listDead(options?: ListDeadOptions): Promise<DeadRecord[]>;
  /** The dead row with this id, `undefined` when there is none (pending, published or purged). */
  getDead(id: string): Promise<DeadRecord | undefined>;
  /** Makes dead rows pending again with their attempts reset; returns how many. */
  replayDead(ids: readonly string[] | 'all'): Promise<number>;
  /** Deletes dead rows (all when `ids` is omitted); returns how many. */
  purgeDead(ids?: readonly string[]): Promise<number>;

  /** Pending and dead counts and the relay's lag; read-only. */
  stats(): Promise<OutboxStats>;
  /** The subjects with the most pending rows, largest first. */
  subjectBacklog(limit: number): Promise<SubjectBacklog[]>;
  /**
   * Pending rows that failed at least once and wait for their retry, most attempts first: the
   * heads that hold back their subjects. Reads every pending row, like `subjectBacklog`: for
   * operators' pages and tools, not for a hot path. Optional for third-party stores.
   */
  listFailing?(limit: number): Promise<FailingRecord[]>;

  /** Applies the outbox migrations under a database lock; safe to run from several processes at once. */
  migrate(): Promise<MigrationResult>;
  /**
   * Checks that the schema is the one this version knows.
   * @throws SchemaVersionError saying what to run.
   */
  assertSchema(): Promise<void>;

  /**
   * Resolves when new rows may be ready, or after `timeoutMs`. It never misses a row committed
   * after the previous empty claim. Present when `capabilities.wakeUp` is true.
   */
  waitForWork?(options: WaitForWorkOptions): Promise<void>;

  /** Releases what the store opened itself (a LISTEN connection); never the caller's pool. */
  close(): Promise<void>;
}
