/** What `query` resolves to: the subset of `pg.QueryResult` outboxkit reads. */
export interface PgQueryResultLike<Row = Record<string, unknown>> {
  readonly rows: Row[];
  readonly rowCount: number | null;
}

/**
 * The subset of a `pg.Client` / `pg.PoolClient` outboxkit uses, so a real client passes as is.
 * `getTransactionStatus` (present in recent pg 8 releases) lets `enqueue` check for an open transaction without a round trip.
 */
export interface PgClientLike {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgQueryResultLike<Row>>;
  /** Present on clients checked out of a pool; an error argument destroys the connection. */
  release?(error?: Error | boolean): void;
  /** `'I'` idle, `'T'` in a transaction, `'E'` in a failed transaction, `null` before the first query. */
  getTransactionStatus?(): string | null;
}

/** The subset of a `pg.Pool` outboxkit uses. */
export interface PgPoolLike {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgQueryResultLike<Row>>;
  connect(): Promise<PgClientLike & { release(error?: Error | boolean): void }>;
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
