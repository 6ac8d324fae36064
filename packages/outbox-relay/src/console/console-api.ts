import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { type DeadLetter, type DeadLetterQuery, listDeadLetters, purgeDeadLetters, replayDeadLetters } from '@outboxkit/bus-nats';
import { type DeadRecord, type Logger, OutboxConfigError, type OutboxStore } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';
import type { ConsoleSampler } from './console-sampler.js';

/** Characters of a payload, data or error shown in a list; the full text is in the detail. */
const PREVIEW_CHARS = 300;
/** Most dead rows one filtered page scans before it answers with what it found and a cursor. */
const SCAN_LIMIT = 5_000;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A request the console API refuses, with the HTTP status it answers. */
export class ConsoleRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ConsoleRequestError';
  }
}

/** Who asked for a mutation, as logged. */
export interface ConsoleActor {
  readonly address: string;
  /** The name the operator typed in the page (`x-outbox-operator`), when any. */
  readonly operator?: string;
}

/** Options of {@link ConsoleApi}. */
export interface ConsoleApiOptions {
  readonly store: OutboxStore<unknown>;
  readonly connection: NatsConnection;
  readonly sampler: ConsoleSampler;
  readonly logger: Logger;
  /** What the page says it watches: names only, never a URL. */
  readonly labels: { readonly driver: 'pg' | 'mysql'; readonly table: string; readonly stream: string };
  readonly dlqStream: string;
  readonly dlqPrefix: string;
  /** Mutations are possible (a token is configured). */
  readonly mutations: boolean;
}

function preview(text: string | undefined, chars = PREVIEW_CHARS): { text: string; truncated: boolean; bytes: number } {
  const value = text ?? '';
  return { text: value.slice(0, chars), truncated: value.length > chars, bytes: Buffer.byteLength(value) };
}

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

function letterSummary(letter: DeadLetter): Record<string, unknown> {
  return {
    sequence: letter.sequence,
    messageId: letter.messageId ?? null,
    type: letter.type ?? null,
    subject: letter.subject ?? null,
    consumer: letter.consumer ?? null,
    code: letter.code ?? null,
    deliveryCount: letter.deliveryCount,
    deadAt: letter.deadAt ?? null,
    error: preview(letter.error),
    data: preview(letter.data),
  };
}

/** A filter from the query string: one line of text, or absent. */
function textFilter(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused in a filter
  if (value.length > 1_000 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ConsoleRequestError(400, `filter ${name} must be 1 to 1000 characters without control characters`);
  }
  return value;
}

function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name);
  if (text === null || text === '') return fallback;
  const value = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new ConsoleRequestError(400, `${name} must be an integer from ${min} to ${max}`);
  return value;
}

/**
 * What the console page reads and changes: the outbox's live figures and dead events (through the
 * `OutboxStore`), the event stream's state, and the consumers' dead-letter stream (through
 * bus-nats's `listDeadLetters`, `replayDeadLetters` and `purgeDeadLetters`, the `dlq` commands'
 * operations). Answers are plain data; the server redacts and escapes nothing here because the
 * page builds its DOM with `textContent` and the server scrubs secrets from every answer.
 */
export class ConsoleApi {
  readonly #options: ConsoleApiOptions;
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(options: ConsoleApiOptions) {
    this.#options = options;
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.#options.connection).catch((error: unknown) => {
      this.#jsm = undefined;
      throw error;
    });
    return this.#jsm;
  }

  /** Live figures, the history for the chart, the largest backlogs, the stuck subjects and the streams' state. */
  async overview(): Promise<Record<string, unknown>> {
    const { store, sampler, labels } = this.#options;
    const [backlog, failing, dead, stream, dlq] = await Promise.all([
      store.subjectBacklog(10).then(
        (rows) => ({ rows }),
        (error: unknown) => ({ error: errorMessage(error) }),
      ),
      // The failed heads as the outbox holds them, so a standalone console shows them too.
      (store.listFailing ? store.listFailing(50) : Promise.resolve([])).then(
        (rows) => ({ rows }),
        (error: unknown) => ({ error: errorMessage(error) }),
      ),
      store.listDead({ limit: 500 }).then(
        (rows) => ({ rows }),
        (error: unknown) => ({ error: errorMessage(error) }),
      ),
      this.#streamState(),
      this.#dlqState(),
    ]);
    // Subjects waiting on a dead event: its newest dead row per subject, with the count.
    const waitingDead = new Map<string, { subject: string; id: string; attempts: number; error: string; since: string; dead: number }>();
    for (const row of 'rows' in dead ? dead.rows : []) {
      const entry = waitingDead.get(row.subject);
      if (entry) entry.dead++;
      else
        waitingDead.set(row.subject, {
          subject: row.subject,
          id: row.id,
          attempts: row.attempts,
          error: preview(row.lastError, 500).text,
          since: row.deadAt.toISOString(),
          dead: 1,
        });
    }
    const history = sampler.history();
    const now = Date.now();
    return {
      now,
      labels,
      mutations: this.#options.mutations,
      latest: history[history.length - 1] ?? null,
      samplerError: sampler.lastError() ?? null,
      history,
      backlog: 'rows' in backlog ? backlog.rows : [],
      backlogError: 'error' in backlog ? backlog.error : null,
      waiting: [
        ...('rows' in failing ? failing.rows : []).map((row) => ({
          state: 'failed',
          subject: row.subject,
          id: row.id,
          attempts: row.attempts,
          error: preview(row.lastError ?? '', 500).text,
          since: null,
          retryAt: new Date(now + row.retryInMs).toISOString(),
        })),
        // Without listFailing (a third-party store), what this process's relay saw fail.
        ...(store.listFailing ? [] : sampler.failing()).map((entry) => ({
          state: 'failed',
          subject: entry.subject,
          id: entry.id,
          attempts: entry.attempt,
          error: preview(entry.error, 500).text,
          since: new Date(entry.failedAt).toISOString(),
          retryAt: new Date(entry.retryAt).toISOString(),
        })),
        ...[...waitingDead.values()].slice(0, 50).map((entry) => ({ state: 'dead', ...entry })),
      ],
      waitingError: [dead, failing].flatMap((answer) => ('error' in answer ? [answer.error] : [])).join('; ') || null,
      stream,
      dlq,
    };
  }

  async #streamState(): Promise<Record<string, unknown>> {
    const name = this.#options.labels.stream;
    try {
      const jsm = await this.#manager();
      const info = await jsm.streams.info(name);
      const consumers = (await jsm.consumers.list(name).next()).map((consumer) => ({
        name: consumer.name,
        pending: consumer.num_pending,
        ackPending: consumer.num_ack_pending,
        redelivered: consumer.num_redelivered,
        waiting: consumer.num_waiting,
      }));
      return {
        name,
        messages: info.state.messages,
        bytes: info.state.bytes,
        firstSeq: info.state.first_seq,
        lastSeq: info.state.last_seq,
        consumers: consumers.sort((a, b) => a.name.localeCompare(b.name)),
      };
    } catch (error) {
      return { name, error: errorMessage(error) };
    }
  }

  async #dlqState(): Promise<Record<string, unknown>> {
    const name = this.#options.dlqStream;
    try {
      const info = await (await this.#manager()).streams.info(name);
      return { name, messages: info.state.messages, bytes: info.state.bytes };
    } catch (error) {
      const message = errorMessage(error);
      return { name, ...(/not found/i.test(message) ? { missing: true } : { error: message }) };
    }
  }

  /**
   * One page of dead outbox events, oldest first, matching every filter given (`subject`, `type`:
   * exact; `q`: a substring of the id, subject, type, error or payload). Pages by keyset (`after`).
   */
  async listDead(params: URLSearchParams): Promise<Record<string, unknown>> {
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
      const rows = await this.#options.store.listDead({ limit: chunk, ...(after ? { afterId: after } : {}) });
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

  async getDead(id: string): Promise<Record<string, unknown>> {
    if (!uuidPattern.test(id)) throw new ConsoleRequestError(404, 'no dead event with this id: event ids are UUIDs');
    const row = await this.#options.store.getDead(id);
    if (!row) throw new ConsoleRequestError(404, 'no dead event with this id (retried or purged meanwhile?)');
    return deadDetail(row);
  }

  /** Retries (`retry`) or purges dead outbox events, after checking the count the operator confirmed. */
  async mutateDead(action: 'retry' | 'purge', body: unknown, actor: ConsoleActor): Promise<Record<string, unknown>> {
    const { ids, all, confirm } = parseSelection(body, 'ids', (value) => typeof value === 'string' && uuidPattern.test(value));
    const store = this.#options.store;
    const expected = all ? (await store.stats()).dead : (ids as string[]).length;
    if (confirm !== expected) {
      throw new ConsoleRequestError(409, `the confirmation was for ${confirm} events; this would touch ${expected}: confirm again`, {
        count: expected,
      });
    }
    const targets = all ? undefined : (ids as string[]);
    const count = action === 'retry' ? await store.replayDead(targets ?? 'all') : await store.purgeDead(targets);
    this.#options.logger.info(
      { console: true, action: `dead ${action}`, who: actor, requested: all ? 'all' : targets?.length, count },
      action === 'retry' ? 'console: dead events retried' : 'console: dead events purged',
    );
    return { count, requested: all ? expected : targets?.length };
  }

  /** One page of the consumers' dead letters, oldest first, matching the filters (as `dlq list`). */
  async listLetters(params: URLSearchParams): Promise<Record<string, unknown>> {
    const limit = intParam(params, 'limit', 25, 1, 500);
    const offset = intParam(params, 'offset', 0, 0, 99_000);
    const query = this.#letterQuery(params);
    // listDeadLetters has no cursor: read up to the end of this page (plus one, to know if there is more).
    const letters = await listDeadLetters(this.#options.connection, { ...query, limit: offset + limit + 1 });
    const page = letters.slice(offset, offset + limit);
    return { items: page.map(letterSummary), next: letters.length > offset + limit ? offset + limit : null, offset };
  }

  async getLetter(sequence: number): Promise<Record<string, unknown>> {
    const [letter] = await listDeadLetters(this.#options.connection, {
      ...this.#letterQuery(new URLSearchParams()),
      sequences: [sequence],
      limit: 1,
    });
    if (!letter) throw new ConsoleRequestError(404, `no dead letter at sequence ${sequence} of ${this.#options.dlqStream}`);
    return { ...letter, dataBytes: Buffer.byteLength(letter.data) };
  }

  /** Replays or purges dead letters: the given sequences, or every letter the filters match. */
  async mutateLetters(action: 'replay' | 'purge', body: unknown, actor: ConsoleActor): Promise<Record<string, unknown>> {
    const { ids, all, confirm, filters } = parseSelection(
      body,
      'sequences',
      (value) => Number.isSafeInteger(value) && (value as number) > 0,
    );
    const query: DeadLetterQuery = {
      ...this.#letterQuery(filters),
      limit: 100_000,
      ...(all ? {} : { sequences: ids as number[] }),
    };
    const expected = all ? (await listDeadLetters(this.#options.connection, query)).length : (ids as number[]).length;
    if (confirm !== expected) {
      throw new ConsoleRequestError(409, `the confirmation was for ${confirm} letters; this would touch ${expected}: confirm again`, {
        count: expected,
      });
    }
    let duplicates = 0;
    const count =
      action === 'replay'
        ? await replayDeadLetters(this.#options.connection, {
            ...query,
            onReplayed: (_letter, result) => {
              if (result.duplicate) duplicates++;
            },
          })
        : await purgeDeadLetters(this.#options.connection, query);
    this.#options.logger.info(
      {
        console: true,
        action: `dlq ${action}`,
        who: actor,
        stream: this.#options.dlqStream,
        requested: all ? 'all matching' : (ids as number[]).length,
        filters: query.consumer || query.type || query.subject || query.code ? filterFields(query) : undefined,
        count,
        ...(action === 'replay' ? { duplicates } : {}),
      },
      action === 'replay' ? 'console: dead letters replayed' : 'console: dead letters purged',
    );
    return { count, requested: expected, ...(action === 'replay' ? { duplicates } : {}) };
  }

  #letterQuery(params: URLSearchParams): DeadLetterQuery {
    const consumer = textFilter(params, 'consumer');
    if (consumer !== undefined && !/^[A-Za-z0-9_-]{1,255}$/.test(consumer)) {
      throw new ConsoleRequestError(400, "consumer must be a consumer name: letters, digits, '_' or '-'");
    }
    const type = textFilter(params, 'type');
    const subject = textFilter(params, 'subject');
    const code = textFilter(params, 'code');
    return {
      stream: this.#options.dlqStream,
      subjectPrefix: this.#options.dlqPrefix,
      ...(consumer === undefined ? {} : { consumer }),
      ...(type === undefined ? {} : { type }),
      ...(subject === undefined ? {} : { subject }),
      ...(code === undefined ? {} : { code }),
    };
  }
}

function filterFields(query: DeadLetterQuery): Record<string, string | undefined> {
  return { consumer: query.consumer, type: query.type, subject: query.subject, code: query.code };
}

/** `{ ids: [...] , confirm: n }` or `{ all: true, confirm: n, filters? }`: the one shape of a mutation body. */
function parseSelection(
  body: unknown,
  key: 'ids' | 'sequences',
  valid: (value: unknown) => boolean,
): { ids: unknown[] | undefined; all: boolean; confirm: number; filters: URLSearchParams } {
  if (typeof body !== 'object' || body === null) throw new ConsoleRequestError(400, 'expected a JSON object');
  const record = body as Record<string, unknown>;
  const all = record.all === true;
  const ids = record[key];
  if (all === (ids !== undefined)) throw new ConsoleRequestError(400, `give ${key} or all: true (not both)`);
  if (ids !== undefined && (!Array.isArray(ids) || ids.length === 0 || ids.length > 1_000 || !ids.every(valid))) {
    throw new ConsoleRequestError(400, `${key} must be a list of 1 to 1000 valid values`);
  }
  if (!Number.isSafeInteger(record.confirm)) {
    throw new ConsoleRequestError(400, 'confirm must be the number of items the operator confirmed');
  }
  const filters = new URLSearchParams();
  if (record.filters !== undefined) {
    if (typeof record.filters !== 'object' || record.filters === null) throw new ConsoleRequestError(400, 'filters must be an object');
    for (const [name, value] of Object.entries(record.filters as Record<string, unknown>)) {
      if (!['consumer', 'type', 'subject', 'code'].includes(name) || typeof value !== 'string') {
        throw new ConsoleRequestError(400, `unknown filter ${JSON.stringify(name).slice(0, 40)}`);
      }
      filters.set(name, value);
    }
  }
  return { ids: ids === undefined ? undefined : [...new Set(ids as unknown[])], all, confirm: record.confirm as number, filters };
}

/** An `OutboxConfigError` from a filter is the caller's mistake: 400. */
export function statusOf(error: unknown): number {
  if (error instanceof ConsoleRequestError) return error.status;
  if (error instanceof OutboxConfigError) return 400;
  return 500;
}
