import type { TableNames } from '../identifiers.js';

/** One numbered schema change. `sql` gets the store's quoted names and may hold several statements. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  sql(names: TableNames): string;
}
