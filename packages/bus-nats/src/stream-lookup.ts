import type { NatsConnection } from '@nats-io/nats-core';

/** What the JetStream API says about a subject: a stream stores it, none does, or it did not answer. */
export type SubjectStorage = 'stored' | 'none' | 'unknown';

/**
 * Asks JetStream whether any stream stores a subject, caching each answer briefly.
 *
 * Why: a publish gets "no responders" both when no stream stores the subject (a setup error,
 * not worth retrying) and, in a cluster, while a replicated stream elects a new leader (measured
 * in the 3-node test: thousands of publishes in a few seconds). Only the JetStream API can tell
 * them apart; one request per subject per `ttlMs` keeps an outage from becoming a request storm.
 */
export class StreamLookup {
  readonly #connection: NatsConnection;
  readonly #apiPrefix: string;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { at: number; answer: Promise<SubjectStorage> }>();

  constructor(connection: NatsConnection, apiPrefix: string, timeoutMs: number, ttlMs = 1_000) {
    this.#connection = connection;
    this.#apiPrefix = apiPrefix;
    this.#timeoutMs = timeoutMs;
    this.#ttlMs = ttlMs;
  }

  storage(subject: string): Promise<SubjectStorage> {
    const now = Date.now();
    const cached = this.#cache.get(subject);
    if (cached && now - cached.at < this.#ttlMs) return cached.answer;
    if (this.#cache.size > 1_000) this.#cache.clear();
    const answer = this.#ask(subject);
    this.#cache.set(subject, { at: now, answer });
    return answer;
  }

  async #ask(subject: string): Promise<SubjectStorage> {
    try {
      const reply = await this.#connection.request(`${this.#apiPrefix}.STREAM.NAMES`, JSON.stringify({ subject }), {
        timeout: this.#timeoutMs,
      });
      const body = reply.json<{ streams?: string[] | null; error?: unknown }>();
      if (body.error) return 'unknown';
      return body.streams && body.streams.length > 0 ? 'stored' : 'none';
    } catch {
      return 'unknown';
    }
  }
}
