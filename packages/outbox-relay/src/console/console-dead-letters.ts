import type { NatsConnection } from '@nats-io/transport-node';
import { type DeadLetter, type DeadLetterQuery, listDeadLetters, purgeDeadLetters, replayDeadLetters } from '@outboxkit/bus-nats';
import type { Logger } from '@outboxkit/outbox-core';
import { type ConsoleActor, ConsoleRequestError, intParam, parseSelection, preview, textFilter } from './console-request.js';

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

/**
 * The console's view of the consumers' dead-letter stream, through bus-nats's `listDeadLetters`,
 * `replayDeadLetters` and `purgeDeadLetters` (the `dlq` commands' operations).
 */
export class ConsoleDeadLetters {
  readonly #connection: NatsConnection;
  readonly #dlqStream: string;
  readonly #dlqPrefix: string;
  readonly #logger: Logger;

  constructor(connection: NatsConnection, dlqStream: string, dlqPrefix: string, logger: Logger) {
    this.#connection = connection;
    this.#dlqStream = dlqStream;
    this.#dlqPrefix = dlqPrefix;
    this.#logger = logger;
  }

  /** One page of the consumers' dead letters, oldest first, matching the filters (as `dlq list`). */
  async list(params: URLSearchParams): Promise<Record<string, unknown>> {
    const limit = intParam(params, 'limit', 25, 1, 500);
    const offset = intParam(params, 'offset', 0, 0, 99_000);
    const query = this.#query(params);
    // listDeadLetters has no cursor: read up to the end of this page (plus one, to know if there is more).
    const letters = await listDeadLetters(this.#connection, { ...query, limit: offset + limit + 1 });
    const page = letters.slice(offset, offset + limit);
    return { items: page.map(letterSummary), next: letters.length > offset + limit ? offset + limit : null, offset };
  }

  async get(sequence: number): Promise<Record<string, unknown>> {
    const [letter] = await listDeadLetters(this.#connection, {
      ...this.#query(new URLSearchParams()),
      sequences: [sequence],
      limit: 1,
    });
    if (!letter) throw new ConsoleRequestError(404, `no dead letter at sequence ${sequence} of ${this.#dlqStream}`);
    return { ...letter, dataBytes: Buffer.byteLength(letter.data) };
  }

  /** Replays or purges dead letters: the given sequences, or every letter the filters match. */
  async mutate(action: 'replay' | 'purge', body: unknown, actor: ConsoleActor): Promise<Record<string, unknown>> {
    const { ids, all, confirm, filters } = parseSelection(
      body,
      'sequences',
      (value) => Number.isSafeInteger(value) && (value as number) > 0,
    );
    const query: DeadLetterQuery = {
      ...this.#query(filters),
      limit: 100_000,
      ...(all ? {} : { sequences: ids as number[] }),
    };
    const expected = all ? (await listDeadLetters(this.#connection, query)).length : (ids as number[]).length;
    if (confirm !== expected) {
      throw new ConsoleRequestError(409, `the confirmation was for ${confirm} letters; this would touch ${expected}: confirm again`, {
        count: expected,
      });
    }
    let duplicates = 0;
    const count =
      action === 'replay'
        ? await replayDeadLetters(this.#connection, {
            ...query,
            onReplayed: (_letter, result) => {
              if (result.duplicate) duplicates++;
            },
          })
        : await purgeDeadLetters(this.#connection, query);
    this.#logger.info(
      {
        console: true,
        action: `dlq ${action}`,
        who: actor,
        stream: this.#dlqStream,
        requested: all ? 'all matching' : (ids as number[]).length,
        filters: query.consumer || query.type || query.subject || query.code ? filterFields(query) : undefined,
        count,
        ...(action === 'replay' ? { duplicates } : {}),
      },
      action === 'replay' ? 'console: dead letters replayed' : 'console: dead letters purged',
    );
    return { count, requested: expected, ...(action === 'replay' ? { duplicates } : {}) };
  }

  #query(params: URLSearchParams): DeadLetterQuery {
    const consumer = textFilter(params, 'consumer');
    if (consumer !== undefined && !/^[A-Za-z0-9_-]{1,255}$/.test(consumer)) {
      throw new ConsoleRequestError(400, "consumer must be a consumer name: letters, digits, '_' or '-'");
    }
    const type = textFilter(params, 'type');
    const subject = textFilter(params, 'subject');
    const code = textFilter(params, 'code');
    return {
      stream: this.#dlqStream,
      subjectPrefix: this.#dlqPrefix,
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
