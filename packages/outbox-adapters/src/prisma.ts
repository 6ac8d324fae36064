import { OutboxUsageError } from '@outboxkit/outbox-core';
import type { SqlDialect, SqlExecutor, SqlResult, TransactionRunner } from '@outboxkit/outbox-core/driver';

/**
 * The raw-SQL methods of a Prisma client, as an interactive transaction's `tx` has them. Prisma
 * generates its client per schema, so the adapter names only what it calls.
 */
export interface PrismaTransactionLike {
  /** Runs a statement with positional parameters and resolves to its rows. */
  // biome-ignore lint/suspicious/noExplicitAny: Prisma's own signature
  $queryRawUnsafe<T = unknown>(query: string, ...values: any[]): PromiseLike<T>;
  /** Runs a statement with positional parameters and resolves to the number of rows it changed. */
  // biome-ignore lint/suspicious/noExplicitAny: Prisma's own signature
  $executeRawUnsafe(query: string, ...values: any[]): PromiseLike<number>;
}

/** Options of an interactive transaction, as `prisma.$transaction(fn, options)` takes them. */
export interface PrismaTransactionOptions {
  /** How long to wait for a connection, in ms. @defaultValue Prisma's (2000) */
  readonly maxWait?: number;
  /** How long the transaction may run before Prisma rolls it back, in ms. @defaultValue Prisma's (5000) */
  readonly timeout?: number;
  readonly isolationLevel?: string;
}

/** A Prisma client: the root client (`new PrismaClient({ adapter })`), which begins interactive transactions. */
export interface PrismaClientLike extends PrismaTransactionLike {
  /** Runs `fn` in an interactive transaction: commits when it resolves, rolls back when it throws. */
  // biome-ignore lint/suspicious/noExplicitAny: Prisma's tx type is generated per schema
  $transaction<R>(fn: (tx: any) => Promise<R>, options?: any): Promise<R>;
  /** Present on the root client only: Prisma takes it away from the tx it hands out. */
  $connect(): Promise<void>;
}

/** The `tx` a Prisma client hands to `$transaction(async (tx) => ...)`. */
export type PrismaTransactionOf<Client extends PrismaClientLike> = Client['$transaction'] extends (
  fn: (tx: infer Tx) => Promise<unknown>,
  // biome-ignore lint/suspicious/noExplicitAny: any options
  ...rest: any[]
) => unknown
  ? Tx
  : never;

/** Options of {@link prismaExecutor} and {@link prismaTransactions}. */
export interface PrismaAdapterOptions {
  /** The client's database. @defaultValue the schema's datasource provider */
  readonly dialect?: SqlDialect;
}

/**
 * The outbox's view of a Prisma interactive transaction: `outbox.enqueue(prismaExecutor(tx), event)`
 * writes the event on the transaction's connection, so it commits or rolls back with `tx`.
 * Statements run through `tx.$queryRawUnsafe` (those that return rows: SELECT, WITH, RETURNING)
 * or `tx.$executeRawUnsafe` (the others, which report the rows they changed).
 *
 * A failed statement rejects with Prisma's own error, given a `cause` that carries the database's
 * code as its driver reports it (`code` SQLSTATE on PostgreSQL, `errno` on MySQL), so the stores
 * classify it as they classify the raw drivers' errors.
 *
 * @throws OutboxUsageError for the root client (each of its statements commits on its own), or
 * a provider other than PostgreSQL and MySQL without `options.dialect`.
 *
 * @example
 * ```ts
 * await prisma.$transaction(async (tx) => {
 *   await tx.product.update({ where: { id }, data: { price } });
 *   await outbox.enqueue(prismaExecutor(tx), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function prismaExecutor(tx: PrismaTransactionLike, options: PrismaAdapterOptions = {}): SqlExecutor {
  if (!tx || typeof tx.$queryRawUnsafe !== 'function' || typeof tx.$executeRawUnsafe !== 'function') {
    throw new OutboxUsageError('prismaExecutor() needs the tx of an interactive transaction: prisma.$transaction(async (tx) => ...)');
  }
  // Prisma takes `$connect` and `$disconnect` (among others) away from the tx it hands out.
  if (typeof (tx as { $connect?: unknown }).$connect === 'function') {
    throw new OutboxUsageError(
      'prismaExecutor() needs the tx of an interactive transaction; got the root PrismaClient, whose statements each commit on their own. ' +
        'Use prisma.$transaction(async (tx) => outbox.enqueue(prismaExecutor(tx), event))',
    );
  }
  const dialect = options.dialect ?? dialectOf(tx);
  return {
    dialect,
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
      try {
        if (returnsRows(sql)) {
          const rows = await tx.$queryRawUnsafe<Row[]>(sql, ...params);
          return { rows, affectedRows: rows.length };
        }
        return { rows: [], affectedRows: await tx.$executeRawUnsafe(sql, ...params) };
      } catch (error) {
        throw withNativeCause(error, dialect);
      }
    },
    // Prisma hands out a tx only inside `$transaction`, and refuses it with an error of its own once that is over.
    inTransaction: () => true,
  };
}

/**
 * The consumer's transactions on a Prisma client: `new PgInboxStore({ transactions: prismaTransactions(prisma) })`.
 * Each handler gets the interactive transaction's `tx`; the runner commits when the handler
 * resolves and rolls back when it throws. `tx.$transaction()` inside a handler is a nested
 * transaction (a savepoint, Prisma 7).
 *
 * @throws OutboxUsageError for a provider other than PostgreSQL and MySQL without `options.dialect`.
 */
export function prismaTransactions<Client extends PrismaClientLike>(
  prisma: Client,
  options: PrismaAdapterOptions & PrismaTransactionOptions = {},
): TransactionRunner<PrismaTransactionOf<Client>> {
  const { dialect = dialectOf(prisma), ...transactionOptions } = options;
  return {
    dialect,
    transaction<T>(fn: (tx: PrismaTransactionOf<Client>, sql: SqlExecutor) => Promise<T>): Promise<T> {
      return prisma.$transaction(
        (tx: PrismaTransactionOf<Client>) => fn(tx, prismaExecutor(tx as PrismaTransactionLike, { dialect })),
        transactionOptions,
      );
    },
  };
}

function dialectOf(client: object): SqlDialect {
  // The generated client records its schema's provider; a tx reads it through to the client.
  const provider = (client as { _activeProvider?: unknown })._activeProvider;
  if (provider === 'postgresql' || provider === 'postgres' || provider === 'cockroachdb') return 'postgres';
  if (provider === 'mysql') return 'mysql';
  throw new OutboxUsageError(
    `cannot tell the Prisma client's database (provider ${String(provider)}): pass { dialect: 'postgres' } or { dialect: 'mysql' }`,
  );
}

// Whether a statement answers rows: a query, or a write with RETURNING.
function returnsRows(sql: string): boolean {
  const first = /^[\s(]*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)[\s(]*)*([a-z]+)/i.exec(sql)?.[1]?.toLowerCase();
  if (first === 'select' || first === 'with' || first === 'values' || first === 'show' || first === 'table' || first === 'explain')
    return true;
  return /\breturning\b/i.test(sql);
}

/** What Prisma's driver adapters report under `meta.driverAdapterError.cause`. */
interface DriverAdapterCause {
  readonly kind?: string;
  readonly originalCode?: string;
  readonly originalMessage?: string;
  readonly code?: string | number;
  readonly message?: string;
}

// Prisma reports a failed raw statement as P2010 and keeps the database's code deep in `meta`;
// the stores look for it where the raw drivers put it. A lost connection has no code of the
// database's: it gets the one the raw driver's error would carry.
function withNativeCause(error: unknown, dialect: SqlDialect): unknown {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: DriverAdapterCause } } } | null)?.meta;
  const cause = meta?.driverAdapterError?.cause;
  if (!cause || (error as { cause?: unknown }).cause !== undefined) return error;
  const code = cause.originalCode ?? (cause.kind === 'postgres' || cause.kind === 'mysql' ? cause.code : undefined);
  const native = Object.assign(new Error(cause.originalMessage ?? cause.message ?? cause.kind ?? 'database error'), { kind: cause.kind });
  const lost = cause.kind === 'ConnectionClosed' || cause.kind === 'SocketTimeout' || cause.kind === 'DatabaseNotReachable';
  if (dialect === 'postgres') {
    const sqlState = code !== undefined ? String(code) : lost ? '08006' : cause.kind === 'TooManyConnections' ? '53300' : undefined;
    if (sqlState === undefined) return error;
    // A server's error carries a severity; a dropped socket does not.
    Object.assign(native, code !== undefined ? { code: sqlState, severity: 'ERROR' } : { code: sqlState });
  } else {
    const errno = code !== undefined ? Number(code) : undefined;
    if (errno !== undefined && Number.isInteger(errno)) Object.assign(native, { errno });
    else if (lost) Object.assign(native, { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
    else return error;
  }
  Object.defineProperty(error, 'cause', { value: native, configurable: true, writable: true, enumerable: false });
  return error;
}
