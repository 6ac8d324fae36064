import type { DeadRecord, Logger, OutboxStore } from '@outboxkit/outbox-core';
import { type ConsoleActor, ConsoleRequestError, intParam, parseSelection, preview, textFilter } from './console-request.js';

/** Most dead rows one filtered page scans before it answers with what it found and a cursor. */
const SCAN_LIMIT = 5_000;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function deadSummary(row: DeadRecord): Record<string, unknown> {
  return {
    id: row.id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: row.time,
    attempts: row.attempts,
    deadAt: row.deadAt.toISOString(),
    lastError: preview(row.lastError),
    payload: preview(row.payload),
    headerCount: Object.keys(row.headers).length,
  };
}

function deadDetail(row: DeadRecord): Record<string, unknown> {
  return { ...row, deadAt: row.deadAt.toISOString(), payloadBytes: Buffer.byteLength(row.payload) };
}

/** The console's view of the outbox's dead events: list, show, retry and purge through the `OutboxStore`. */
export class ConsoleDeadEvents {
  readonly #store: OutboxStore<unknown>;
  readonly #logger: Logger;

  constructor(store: OutboxStore<unknown>, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /**
   * One page of dead outbox events, oldest first, matching every filter given (`subject`, `type`:
   * exact; `q`: a substring of the id, subject, type, error or payload). Pages by keyset (`after`).
   */
  async list(params: URLSearchParams): Promise<Record<string, unknown>> {
    const limit = intParam(params, 'limit', 25, 1, 500);
    const subject = textFilter(params, 'subject');
    const type = textFilter(params, 'type');
    const search = textFilter(params, 'q')?.toLowerCase();
    let after = textFilter(params, 'after');
    const filtered = subject !== undefined || type !== undefined || search !== undefined;
    const matches = (row: DeadRecord): boolean =>
      (subject === undefined || row.subject === subject) &&
      (type === undefined || row.type === type) &&
      (search === undefined ||
        [row.id, row.subject, row.type, row.lastError, row.payload].some((text) => text.toLowerCase().includes(search)));
    const items: DeadRecord[] = [];
    let scanned = 0;
    // The last row scanned: where the next page starts. null once the table has no more.
    let next: string | null = null;
    for (;;) {
      const chunk = filtered ? 500 : limit - items.length;
      const rows = await this.#store.listDead({ limit: chunk, ...(after ? { afterId: after } : {}) });
      for (const row of rows) {
        scanned++;
        after = row.id;
        if (matches(row)) items.push(row);
        if (items.length >= limit) break;
      }
      if (items.length >= limit || (scanned >= SCAN_LIMIT && rows.length === chunk)) {
        next = after ?? null;
        break;
      }
      if (rows.length < chunk) break;
    }
    return { items: items.map(deadSummary), next, scanned };
  }

  async get(id: string): Promise<Record<string, unknown>> {
    if (!uuidPattern.test(id)) throw new ConsoleRequestError(404, 'no dead event with this id: event ids are UUIDs');
    const row = await this.#store.getDead(id);
    if (!row) throw new ConsoleRequestError(404, 'no dead event with this id (retried or purged meanwhile?)');
    return deadDetail(row);
  }

  /** Retries (`retry`) or purges dead outbox events, after checking the count the operator confirmed. */
  async mutate(action: 'retry' | 'purge', body: unknown, actor: ConsoleActor): Promise<Record<string, unknown>> {
    const { ids, all, confirm } = parseSelection(body, 'ids', (value) => typeof value === 'string' && uuidPattern.test(value));
    const store = this.#store;
    const expected = all ? (await store.stats()).dead : (ids as string[]).length;
    if (confirm !== expected) {
      throw new ConsoleRequestError(409, `the confirmation was for ${confirm} events; this would touch ${expected}: confirm again`, {
        count: expected,
      });
    }
    const targets = all ? undefined : (ids as string[]);
    const count = action === 'retry' ? await store.replayDead(targets ?? 'all') : await store.purgeDead(targets);
    this.#logger.info(
      { console: true, action: `dead ${action}`, who: actor, requested: all ? 'all' : targets?.length, count },
      action === 'retry' ? 'console: dead events retried' : 'console: dead events purged',
    );
    return { count, requested: all ? expected : targets?.length };
  }
}
