import { createHash, randomUUID } from 'node:crypto';
import type { ClaimedBatch } from '@outboxkit/outbox-core';
import { absorbClientErrors, lastResult, type PgClientLike, type PgPoolLike } from './pg-like.js';
import { toRecord } from './records.js';
import { type ClaimRow, claimParamTypes, type OutboxSql, orderedWalk, type RecordRow, sortedHeads } from './sql/outbox-sql.js';
import { translatePgError } from './translate-pg-error.js';

/** The two claim statements (see `sql/outbox-sql.ts`). */
export type ClaimKind = 'claim' | 'claimBySubject';

/** The claim statements with the names they are PREPAREd under on each connection. */
export type PreparedClaims = Record<ClaimKind, { readonly name: string; readonly text: string }>;

/** What one store learned about the shape of its backlog: which claim statement to start with. */
export interface ClaimStrategy {
  /** The last claim found fewer heads than a batch: start with the subject-by-subject claim. */
  fewSubjects: boolean;
}

/** The byte budget of one claim (see `ClaimOptions.maxBatchBytes`) and the store's `maxEventBytes`. */
export interface ClaimBudget {
  readonly maxBatchBytes: number;
  readonly maxEventBytes: number;
}

/** What a claim runs on: the store's pool, statements and expected schema version (for errors). */
export interface ClaimTarget {
  readonly pool: PgPoolLike;
  readonly sql: OutboxSql;
  /** Undefined when statements are not prepared: the claim's text then carries its arguments. */
  readonly prepared: PreparedClaims | undefined;
  readonly schemaVersion: number;
}

/** Names both claim statements by a hash of their text, so stores on one table share them per connection. */
export function prepareClaims(sql: OutboxSql): PreparedClaims {
  const params = { batchSize: '$1', leaseMs: '$2', token: '$3', maxBatchBytes: '$4', maxEventBytes: '$5' };
  const statement = (kind: ClaimKind) => {
    const text = sql[kind](params);
    return { name: `outboxkit_${kind.toLowerCase()}_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
  };
  return { claim: statement('claim'), claimBySubject: statement('claimBySubject') };
}

/**
 * Leases up to `batchSize` ready subject heads for `leaseMs` under a new token.
 *
 * Two ways to find subject heads (see the SQL): a walk of the oldest rows, cheap when many
 * subjects interleave, and a jump from subject to subject, cheap when few subjects hold the
 * backlog. The store keeps using the one that last filled the batch (`strategy`).
 */
export async function claimHeads(
  target: ClaimTarget,
  strategy: ClaimStrategy,
  batchSize: number,
  leaseMs: number,
  budget: ClaimBudget,
): Promise<ClaimedBatch> {
  const token = randomUUID();
  // The lease runs on the server's clock (now() + leaseMs); the relay's deadline is taken on its
  // own clock before the claim is sent, so it ends before the server's lease whatever the skew.
  const leaseUntil = new Date(Date.now() + leaseMs);
  const claimWith = async (kind: ClaimKind, size: number, maxBatchBytes: number): Promise<ClaimRow[]> =>
    (await claimRows(target, kind, size, leaseMs, token, { maxBatchBytes, maxEventBytes: budget.maxEventBytes })) as ClaimRow[];
  let rows: ClaimRow[];
  if (strategy.fewSubjects) {
    rows = await claimWith('claimBySubject', batchSize, budget.maxBatchBytes);
    if (rows.length === batchSize) strategy.fewSubjects = false;
  } else {
    rows = await claimWith('claim', batchSize, budget.maxBatchBytes);
    const left = budget.maxBatchBytes - loadedBytes(rows);
    // Short of heads (not of budget): top up from the subject-by-subject walk, with what is left of the budget.
    if (rows.length < batchSize && left > 0) {
      const more = await claimWith('claimBySubject', batchSize - rows.length, left);
      if (more.length > 0) rows = [...rows, ...more].sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
      strategy.fewSubjects = true;
    }
  }
  return { token, records: rows.map(toRecord), leaseUntil };
}

/**
 * Runs one claim statement after `orderedWalk` and the table's claim turn (`claimTurn`), in one
 * simple-protocol round trip. Prepared, the
 * statement is PREPAREd once per connection and EXECUTEd with literal arguments (integers we
 * validated, a UUID we generated); unprepared, its text carries those literals.
 */
async function claimRows(
  target: ClaimTarget,
  kind: ClaimKind,
  batchSize: number,
  leaseMs: number,
  token: string,
  budget: ClaimBudget,
): Promise<unknown[]> {
  const context = { operation: 'claim()', expectedVersion: target.schemaVersion };
  const settings = kind === 'claimBySubject' ? `${orderedWalk}\n${sortedHeads}` : orderedWalk;
  const prepared = target.prepared?.[kind];
  if (!prepared) {
    const text = target.sql[kind]({
      batchSize: String(batchSize),
      leaseMs: String(leaseMs),
      token: `'${token}'`,
      maxBatchBytes: String(budget.maxBatchBytes),
      maxEventBytes: String(budget.maxEventBytes),
    });
    try {
      return lastResult(await target.pool.query(`${settings}\n${target.sql.claimTurn}\n${text}`)).rows;
    } catch (error) {
      throw translatePgError(error, context);
    }
  }
  let client: Awaited<ReturnType<PgPoolLike['connect']>>;
  try {
    client = await target.pool.connect();
  } catch (error) {
    throw translatePgError(error, context);
  }
  const stopAbsorbing = absorbClientErrors(client);
  let broken: Error | undefined;
  try {
    await prepareOnce(client, prepared.name, prepared.text);
    const results = await client.query(
      `${settings}\n${target.sql.claimTurn}\nEXECUTE ${prepared.name}(${batchSize}, ${leaseMs}, '${token}', ${budget.maxBatchBytes}, ${budget.maxEventBytes})`,
    );
    return lastResult(results).rows;
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    throw translatePgError(error, context);
  } finally {
    stopAbsorbing();
    client.release(broken);
  }
}

/** The SQL-level prepared statements (PREPARE ... AS) each pooled connection already holds. */
const preparedOnConnection = new WeakMap<object, Set<string>>();

async function prepareOnce(client: PgClientLike, name: string, text: string): Promise<void> {
  let names = preparedOnConnection.get(client);
  if (names?.has(name)) return;
  try {
    await client.query(`PREPARE ${name} ${claimParamTypes} AS ${text}`);
  } catch (error) {
    // 42P05: this connection has it already (another store on the same table prepared it).
    if ((error as { code?: unknown }).code !== '42P05') throw error;
  }
  if (!names) {
    names = new Set();
    preparedOnConnection.set(client, names);
  }
  names.add(name);
}

/** The payload bytes a claim brought into memory (oversized rows count 0: their payload stayed behind). */
function loadedBytes(rows: readonly RecordRow[]): number {
  let bytes = 0;
  for (const row of rows) if (!row.oversized) bytes += Number(row.payload_bytes ?? 0);
  return bytes;
}
