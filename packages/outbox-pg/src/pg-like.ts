/** What `query` resolves to: the subset of `pg.QueryResult` outboxkit reads. */
export interface PgQueryResultLike<Row = Record<string, unknown>> {
  readonly rows: Row[];
  readonly rowCount: number | null;
}

/**
 * A statement sent as a query config. With a `name`, pg prepares it once per connection and then
 * sends only its parameters: PostgreSQL skips parsing and planning it again.
 */
export interface PgQueryConfigLike {
  readonly name?: string;
  readonly text: string;
  readonly values?: unknown[];
}

/**
 * The subset of a `pg.Client` / `pg.PoolClient` outboxkit uses, so a real client passes as is.
 * `getTransactionStatus` (present in recent pg 8 releases) lets `enqueue` check for an open transaction without a round trip.
 */
export interface PgClientLike {
  /** Runs one statement on this connection (inside the caller's transaction, when one is open). */
  query<Row = Record<string, unknown>>(text: string | PgQueryConfigLike, values?: unknown[]): Promise<PgQueryResultLike<Row>>;
  /** Present on clients checked out of a pool; an error argument destroys the connection. */
  release?(error?: Error | boolean): void;
  /** `'I'` idle, `'T'` in a transaction, `'E'` in a failed transaction, `null` before the first query. */
  getTransactionStatus?(): string | null;
}

/** The subset of a `pg.Pool` outboxkit uses. */
export interface PgPoolLike {
  /** Runs one statement on any free connection of the pool. */
  query<Row = Record<string, unknown>>(text: string | PgQueryConfigLike, values?: unknown[]): Promise<PgQueryResultLike<Row>>;
  /** Checks a connection out; the caller releases it. */
  connect(): Promise<
    PgClientLike & {
      /** Hands the connection back; with an error argument the pool destroys it instead. */
      release(error?: Error | boolean): void;
    }
  >;
  /** `pg.Pool` keeps its connection settings here; the store opens its LISTEN connection with them. */
  readonly options?: object;
}

/**
 * True for a `pg.Pool` (or anything shaped like one): it hands out connections and counts them.
 * A `pg.Client` also has `connect`, but no pool counters.
 */
export function isPoolLike(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.connect === 'function' && ('totalCount' in candidate || 'idleCount' in candidate);
}

type ErrorEmitter = {
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
};

/**
 * While we hold a checked-out client, a dropped connection makes pg emit `'error'` on it besides
 * rejecting the pending query; with no listener, Node would crash the process. The query's
 * rejection is what we act on, so the event is swallowed until the returned function removes
 * the listener.
 */
export function absorbClientErrors(client: unknown): () => void {
  const emitter = client as ErrorEmitter;
  if (typeof emitter.on !== 'function' || typeof emitter.off !== 'function') return () => {};
  const ignore = (): void => {};
  emitter.on('error', ignore);
  return () => emitter.off?.('error', ignore);
}

/** A simple-protocol string with several statements resolves to an array of results: the last one. */
export function lastResult(results: PgQueryResultLike | PgQueryResultLike[]): PgQueryResultLike {
  return Array.isArray(results) ? (results.at(-1) as PgQueryResultLike) : results;
}
