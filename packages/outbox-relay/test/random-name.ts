import { randomBytes } from 'node:crypto';

/** `<prefix>_<10 hex>`: a schema, table, database or stream name of one test's own. */
export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}
