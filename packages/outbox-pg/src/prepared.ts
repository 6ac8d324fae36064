import { createHash } from 'node:crypto';
import type { PgQueryConfigLike } from './pg-like.js';

/**
 * Turns a parameterised statement into the query config outboxkit sends. Prepared (the default),
 * it carries a name derived from its text, so each connection parses and plans it once: measured
 * on this machine, that alone took `enqueue` from 0.29x to 0.50x of the business UPDATE's tx/s
 * (`node packages/outbox-pg/bench/wakeup.mjs`). Unprepared is for poolers that cannot keep
 * named statements per client (PgBouncer before 1.21 in transaction mode).
 */
export function preparedStatement(text: string, prepared: boolean): (values: unknown[]) => PgQueryConfigLike {
  const name = prepared ? `outboxkit_${createHash('sha256').update(text).digest('hex').slice(0, 24)}` : undefined;
  return (values) => (name === undefined ? { text, values } : { name, text, values });
}
