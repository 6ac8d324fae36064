/**
 * Every error outboxkit throws on purpose is an `OutboxError`: branch on `code`, never on the message.
 */
export type OutboxErrorCode =
  | 'CONFIG'
  | 'USAGE'
  | 'EVENT_INVALID'
  | 'SCHEMA_VERSION'
  | 'PUBLISH_FAILED'
  | 'NO_STREAM'
  | 'PAYLOAD_TOO_LARGE'
  | 'PUBLISH_TIMEOUT'
  | 'DISCONNECTED'
  | 'DECODE_FAILED'
  | 'UNKNOWN_EVENT_TYPE'
  | 'FORGED_SUBJECT'
  | 'GAP_MARKER'
  | 'DUPLICATE'
  | 'SERIALIZATION_FAILURE'
  | 'DEADLOCK'
  | 'LOCK_TIMEOUT'
  | 'CONNECTION_LOST'
  | 'READ_ONLY'
  | 'INFRASTRUCTURE'
  | 'DATABASE'
  | 'BATCH_ROLLED_BACK';

/** Options shared by every outboxkit error. */
export interface OutboxErrorOptions {
  /** The error this one wraps (a driver's native error, a schema issue). */
  cause?: unknown;
}

/**
 * The base class of every error outboxkit throws on purpose.
 *
 * @example
 * ```ts
 * try { await relay.start() } catch (error) {
 *   if (error instanceof OutboxError && error.code === 'SCHEMA_VERSION') process.exit(2)
 * }
 * ```
 */
export class OutboxError extends Error {
  override readonly name: string = 'OutboxError';
  readonly code: OutboxErrorCode;

  constructor(code: OutboxErrorCode, message: string, options: OutboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** A setting is invalid or two settings contradict each other. Thrown at construction or start, before any work. */
export class OutboxConfigError extends OutboxError {
  override readonly name = 'OutboxConfigError';
  /** The setting to change, e.g. `leaseMs` or `duplicate_window`. */
  readonly setting: string;

  constructor(setting: string, message: string, options: OutboxErrorOptions = {}) {
    super('CONFIG', message, options);
    this.setting = setting;
  }
}

/** The API was called the wrong way (a pool where a transaction's client is needed, a stopped relay started twice). */
export class OutboxUsageError extends OutboxError {
  override readonly name = 'OutboxUsageError';

  constructor(message: string, options: OutboxErrorOptions = {}) {
    super('USAGE', message, options);
  }
}

/**
 * An event failed validation: not plain JSON, a missing attribute, or a schema issue.
 * `path` names the offending value, e.g. `data.items[3].price`. Nothing was written.
 */
export class EventValidationError extends OutboxError {
  override readonly name = 'EventValidationError';
  readonly path: string;

  constructor(path: string, message: string, options: OutboxErrorOptions = {}) {
    super('EVENT_INVALID', message, options);
    this.path = path;
  }
}

/** The database schema is missing, older or newer than this version of outboxkit knows. */
export class SchemaVersionError extends OutboxError {
  override readonly name = 'SchemaVersionError';
  readonly found: number | null;
  readonly expected: number;

  constructor(found: number | null, expected: number, message: string) {
    super('SCHEMA_VERSION', message);
    this.found = found;
    this.expected = expected;
  }
}

/**
 * A publish to the bus failed. `retryable` says whether trying again later may succeed
 * (timeouts, disconnects) or not (no stream for the subject, payload too large).
 */
export class PublishError extends OutboxError {
  override readonly name = 'PublishError';
  readonly retryable: boolean;

  constructor(code: OutboxErrorCode, message: string, retryable: boolean, options: OutboxErrorOptions = {}) {
    super(code, message, options);
    this.retryable = retryable;
  }
}

/**
 * An incoming message could not be turned into an event (no id, bad JSON, unknown type, schema
 * failure), or it came on a bus subject its type does not map to (`FORGED_SUBJECT`), or it is a
 * gap marker, which carries no event (`GAP_MARKER`: read `Delivery.gap`).
 */
export class EventDecodeError extends OutboxError {
  override readonly name = 'EventDecodeError';

  constructor(
    code: 'DECODE_FAILED' | 'UNKNOWN_EVENT_TYPE' | 'EVENT_INVALID' | 'FORGED_SUBJECT' | 'GAP_MARKER',
    message: string,
    options: OutboxErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/** Options of {@link StoreError}. */
export interface StoreErrorOptions extends OutboxErrorOptions {
  /** The database, not the statement, failed (see `StoreError.infrastructure`). @defaultValue `retryable` */
  readonly infrastructure?: boolean;
}

/**
 * A database error translated by a driver package. `retryable` is true for serialization failures,
 * deadlocks, lock and statement timeouts and lost connections; `cause` keeps the native error.
 *
 * `infrastructure` is true when the database or the transaction failed rather than the statement:
 * the connection was refused, reset or terminated, a pool timed out, the server is read-only (a
 * failover), or the transaction lost a deadlock or serialization conflict. The consumer retries
 * those without limit and never counts them toward dead-lettering.
 */
export class StoreError extends OutboxError {
  override readonly name = 'StoreError';
  readonly retryable: boolean;
  readonly infrastructure: boolean;

  constructor(code: OutboxErrorCode, message: string, retryable: boolean, options: StoreErrorOptions = {}) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.retryable = retryable;
    this.infrastructure = options.infrastructure ?? retryable;
  }
}

/**
 * Thrown by a handler when a service it depends on is down (its own database, an HTTP API): the
 * consumer treats the message as it treats its inbox database being unreachable, retrying it
 * without limit, pausing its fetches and never dead-lettering it for this.
 *
 * @example
 * ```ts
 * consumer.on(PriceChanged, async (event, tx) => {
 *   const response = await fetch(pricingUrl).catch((cause) => { throw new InfrastructureError('pricing API unreachable', { cause }) })
 * })
 * ```
 */
export class InfrastructureError extends OutboxError {
  override readonly name = 'InfrastructureError';

  constructor(message: string, options: OutboxErrorOptions = {}) {
    super('INFRASTRUCTURE', message, options);
  }
}

/**
 * True when `error`, or an error in its `cause` chain, is an {@link InfrastructureError} or a
 * {@link StoreError} with `infrastructure` set: something outside the message failed.
 */
export function isInfrastructureError(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    if (current instanceof InfrastructureError) return true;
    if (current instanceof StoreError) return current.infrastructure;
  }
  return false;
}

/**
 * True for a deadlock or a serialization failure: the transaction may succeed if run again at once.
 * (Not a lock wait timeout: it already waited `innodb_lock_wait_timeout` / `lock_timeout`.)
 */
export function isTransactionConflict(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    if (current instanceof StoreError) {
      return current.infrastructure && (current.code === 'DEADLOCK' || current.code === 'SERIALIZATION_FAILURE');
    }
  }
  return false;
}

/**
 * An item of an inbox batch run without savepoints threw: the whole batch was rolled back and
 * nothing of it applied. `index` is the item's position; `cause` is what its handler threw.
 */
export class BatchRolledBackError extends OutboxError {
  override readonly name = 'BatchRolledBackError';
  readonly index: number;

  constructor(index: number, cause: unknown) {
    super('BATCH_ROLLED_BACK', `item ${index} of the batch failed (${errorMessage(cause)}); the whole batch was rolled back`, { cause });
    this.index = index;
  }
}

/** Returns the message of anything thrown, for logs and `last_error` columns. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
