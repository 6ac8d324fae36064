import { SchemaVersionError } from '../errors.js';

/** The table a schema check is about, for its messages. */
export interface SchemaTarget {
  /** `outbox` or `inbox`. */
  readonly kind: string;
  /** The table as the operator knows it, e.g. `public.outbox` or `shop.outbox`. */
  readonly table: string;
  /** The driver package, e.g. `@outboxkit/outbox-pg`: what to upgrade for a newer schema. */
  readonly packageName: string;
}

/**
 * The schema check every driver runs, once: `found` (the newest migration recorded, `null` when the
 * table or its version table is missing) must be `expected`, the version the driver's migrations
 * build. `migrate()` passes `allowOlder`: it is about to apply what is missing.
 * @throws SchemaVersionError saying to run the migrations (missing or older) or to upgrade the package (newer).
 */
export function checkSchemaVersion(found: number | null, expected: number, target: SchemaTarget, allowOlder = false): void {
  if (found !== null && found > expected) {
    throw new SchemaVersionError(
      found,
      expected,
      `The ${target.kind} table ${target.table} is at schema version ${found}, newer than the ${expected} this version of ${target.packageName} knows: upgrade ${target.packageName}`,
    );
  }
  if (found === expected || allowOlder) return;
  throw new SchemaVersionError(
    found,
    expected,
    `The ${target.kind} table ${target.table} is at schema version ${found ?? 'none'}, this version of ${target.packageName} needs ${expected}: run \`outbox-relay migrate\` or \`store.migrate()\``,
  );
}
