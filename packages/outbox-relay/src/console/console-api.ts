import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, OutboxStore } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';
import { ConsoleDeadEvents } from './console-dead-events.js';
import { ConsoleDeadLetters } from './console-dead-letters.js';
import { preview } from './console-request.js';
import type { ConsoleSampler } from './console-sampler.js';

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
  /** The outbox's dead events. */
  readonly deadEvents: ConsoleDeadEvents;
  /** The consumers' dead letters. */
  readonly deadLetters: ConsoleDeadLetters;

  constructor(options: ConsoleApiOptions) {
    this.#options = options;
    this.deadEvents = new ConsoleDeadEvents(options.store, options.logger);
    this.deadLetters = new ConsoleDeadLetters(options.connection, options.dlqStream, options.dlqPrefix, options.logger);
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
}
