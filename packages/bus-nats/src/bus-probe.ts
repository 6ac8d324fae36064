import type { NatsConnection } from '@nats-io/nats-core';
import type { BusHealth } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';
import { type BusOutage, FullSignal, type StreamInfoLike, streamInfoHealth } from './stream-health.js';

/** Streams checked by one probe, at most: a batch rarely goes to more than one. */
const maxStreams = 4;

type ApiAnswer<T> = { readonly ok: true; readonly body: T } | BusOutage;

/**
 * Answers `Publisher.probe` for JetStream: asks about the target stream(s), not the account, so a
 * deleted stream, a stream without leader or quorum, and a full stream are outages with their
 * reason. A request that times out while the connection is up means JetStream has no leader to
 * answer (a cluster without a meta leader, or electing one).
 */
export class BusProbe {
  readonly #connection: NatsConnection;
  readonly #apiPrefix: string;
  readonly #timeoutMs: number;
  readonly full = new FullSignal();
  /** False between a `disconnect` and the next `reconnect` status of the connection. */
  connected = true;

  constructor(connection: NatsConnection, apiPrefix: string, timeoutMs: number) {
    this.#connection = connection;
    this.#apiPrefix = apiPrefix;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * The health of the named streams, or of the streams storing `subjects` when no name is given
   * (`stream-missing` when none does); the account's JetStream when neither is known.
   */
  async check(stream: string | undefined, subjects: readonly string[], signal?: AbortSignal): Promise<BusHealth> {
    if (this.#connection.isClosed()) return { ok: false, reason: 'unreachable', detail: 'the NATS connection is closed' };
    if (signal?.aborted) return { ok: false, reason: 'unreachable', detail: 'the probe was aborted' };
    let streams: string[];
    if (stream !== undefined) {
      streams = [stream];
    } else if (subjects.length > 0) {
      const names = new Set<string>();
      for (const subject of subjects) {
        const answer = await this.#api<{ streams?: string[] | null }>(
          'STREAM.NAMES',
          JSON.stringify({ subject }),
          `the streams of ${subject}`,
        );
        if (!answer.ok) return answer;
        const found = answer.body.streams ?? [];
        if (found.length === 0) {
          return {
            ok: false,
            reason: 'stream-missing',
            detail: `no JetStream stream stores the subject ${subject} (deleted or misnamed?): create it (ensureStream) or fix the subject mapping`,
          };
        }
        for (const name of found) names.add(name);
        if (names.size >= maxStreams) break;
      }
      streams = [...names].slice(0, maxStreams);
    } else {
      const answer = await this.#api('INFO', undefined, 'the account info');
      return answer.ok ? { ok: true } : answer;
    }
    for (const name of streams) {
      const answer = await this.#api<StreamInfoLike>(`STREAM.INFO.${name}`, undefined, `the stream ${name}`);
      if (!answer.ok) {
        if (answer.reason === 'stream-missing') {
          return { ok: false, reason: 'stream-missing', detail: `the stream ${name} does not exist (deleted or misnamed?)` };
        }
        return answer;
      }
      const health = streamInfoHealth(answer.body, this.full);
      if (!health.ok) return health;
    }
    return { ok: true };
  }

  async #api<T>(endpoint: string, body: string | undefined, what: string): Promise<ApiAnswer<T>> {
    let reply: { json<R>(): R };
    try {
      reply = await this.#connection.request(`${this.#apiPrefix}.${endpoint}`, body, { timeout: this.#timeoutMs });
    } catch (error) {
      const names = new Set<string>();
      for (let e: unknown = error; e instanceof Error && names.size < 5; e = e.cause) names.add(e.name);
      if (this.#connection.isClosed()) return { ok: false, reason: 'unreachable', detail: 'the NATS connection is closed' };
      if (!this.connected) return { ok: false, reason: 'unreachable', detail: `NATS is disconnected (${what} was not answered)` };
      if (names.has('TimeoutError')) {
        return {
          ok: false,
          reason: 'no-leader',
          detail: `JetStream did not answer for ${what} within ${this.#timeoutMs} ms: the cluster or the stream has no leader (or the server is overloaded)`,
        };
      }
      if (names.has('NoRespondersError') || /no responders/i.test(errorMessage(error))) {
        return {
          ok: false,
          reason: 'unreachable',
          detail: `JetStream does not answer on this connection (no responders for ${what}): is it enabled for the account?`,
        };
      }
      return { ok: false, reason: 'unreachable', detail: `asking for ${what} failed: ${errorMessage(error)}` };
    }
    let parsed: T & { error?: { code?: number; err_code?: number; description?: string } };
    try {
      parsed = reply.json();
    } catch (error) {
      return {
        ok: false,
        reason: 'unreachable',
        detail: `JetStream answered ${what} with something that is not JSON: ${errorMessage(error)}`,
      };
    }
    const apiError = parsed.error;
    if (apiError) {
      const description = `${apiError.description ?? 'error'} (${apiError.code ?? '?'}/${apiError.err_code ?? '?'})`;
      if (apiError.code === 404) return { ok: false, reason: 'stream-missing', detail: `JetStream: ${description}` };
      if (apiError.code === 503) return { ok: false, reason: 'no-leader', detail: `JetStream answered ${what} with ${description}` };
      return { ok: false, reason: 'unreachable', detail: `JetStream answered ${what} with ${description}` };
    }
    return { ok: true, body: parsed };
  }
}
