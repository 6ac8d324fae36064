import { type ConsumerConfig, jetstreamManager } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import {
  type FetchOptions,
  type Logger,
  noopLogger,
  OutboxConfigError,
  OutboxError,
  OutboxUsageError,
  type Subscriber,
  validateInteger,
} from '@outboxkit/outbox-core';
import { parseAckSubject } from './ack-subject.js';
import { DEFAULT_DEAD_LETTER_PREFIX } from './dead-letter.js';
import { msToNanos, nanosToMs } from './durations.js';
import { redeliveryHorizonMs } from './ensure-consumer.js';
import { type DeliveryContext, NatsDelivery } from './nats-delivery.js';
import { ReplyInbox } from './reply-inbox.js';

/** Options of {@link NatsSubscriber}. */
export interface NatsSubscriberOptions {
  /** The caller's connection; the subscriber never closes or drains it. */
  readonly connection: NatsConnection;
  readonly stream: string;
  /** The durable pull consumer's name (see `ensureConsumer`). */
  readonly consumer: string;
  /** The consumer's `max_deliver`: the consumer loop dead-letters at this delivery. */
  readonly maxDeliver: number;
  /** First token of dead-letter subjects: `<prefix>.<consumer>.<original subject>`. @defaultValue `'dlq'` */
  readonly deadLetterPrefix?: string;
  /** How long to wait for the server to confirm an ack, nak, term or dead-letter publish. @defaultValue 5_000 */
  readonly timeoutMs?: number;
  /** JetStream API prefix, for domains or imported accounts. @defaultValue `'$JS.API'` */
  readonly apiPrefix?: string;
  /** How long after a first delivery JetStream may still redeliver (see `redeliveryHorizonMs()`); checked by core's `Consumer` against the inbox retention. */
  readonly redeliveryHorizonMs?: number;
  /** @defaultValue a no-op logger */
  readonly logger?: Logger;
}

/** Options of {@link NatsSubscriber.create}: `maxDeliver` and the redelivery horizon are read from the consumer. */
export interface NatsSubscriberCreateOptions extends Omit<NatsSubscriberOptions, 'maxDeliver' | 'redeliveryHorizonMs'> {
  /** The longest delay the consumer loop passes to `nak()`, for the redelivery horizon. @defaultValue 30_000 (core `Consumer`'s default backoff) */
  readonly maxNakDelayMs?: number;
}

/** A pull request in progress: it ends on a status (404, 408, 409) or when its batch is delivered. */
interface Pull {
  ended: boolean;
  status?: number;
  description?: string;
}

/**
 * Reads a durable JetStream pull consumer with explicit acks, one batch per `fetch`.
 *
 * `fetch` first asks for what is available now (`no_wait`), so a partial batch returns at once;
 * when nothing is, it waits up to `expiresMs` for the first message, then takes whatever else has
 * arrived. Deliveries are in stream order for a consumer. Not for concurrent `fetch` calls on one
 * instance (run several subscribers of one consumer instead). `close` stops fetching, naks what it
 * received but did not hand out, and leaves the caller's connection open.
 *
 * @example
 * ```ts
 * await ensureConsumer(nc, { stream: 'EVENTS', name: 'basket', maxDeliver: 5 });
 * const subscriber = await NatsSubscriber.create({ connection: nc, stream: 'EVENTS', consumer: 'basket' });
 * for (const delivery of await subscriber.fetch({ max: 100, expiresMs: 5_000 })) { ... await delivery.ack(); }
 * ```
 */
export class NatsSubscriber implements Subscriber {
  readonly name: string;
  readonly maxDeliver: number;
  readonly redeliveryHorizonMs: number | undefined;
  readonly #connection: NatsConnection;
  readonly #stream: string;
  readonly #nextSubject: string;
  readonly #inbox: string;
  readonly #subscription: Subscription;
  readonly #context: DeliveryContext;
  readonly #replies: ReplyInbox;
  readonly #logger: Logger;
  readonly #buffer: Msg[] = [];
  readonly #pulls = new Map<string, Pull>();
  #pullCount = 0;
  #wake: (() => void) | null = null;
  #fetching = false;
  #closed = false;

  /**
   * Subscribes to the reply inbox at once; no request is sent until `fetch`.
   * @throws OutboxConfigError for an invalid option.
   */
  constructor(options: NatsSubscriberOptions) {
    this.name = options.consumer;
    this.maxDeliver = validateInteger(options.maxDeliver, 'maxDeliver', 1);
    this.redeliveryHorizonMs = options.redeliveryHorizonMs;
    this.#connection = options.connection;
    this.#stream = options.stream;
    this.#logger = options.logger ?? noopLogger;
    const apiPrefix = options.apiPrefix ?? '$JS.API';
    this.#replies = new ReplyInbox(options.connection, validateInteger(options.timeoutMs ?? 5_000, 'timeoutMs', 1));
    this.#context = {
      replies: this.#replies,
      consumer: options.consumer,
      deadLetterPrefix: options.deadLetterPrefix ?? DEFAULT_DEAD_LETTER_PREFIX,
      timeoutMs: validateInteger(options.timeoutMs ?? 5_000, 'timeoutMs', 1),
    };
    this.#nextSubject = `${apiPrefix}.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
    this.#inbox = createInbox((options.connection as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#subscription = options.connection.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => this.#receive(error, msg),
    });
  }

  /**
   * Reads the consumer's `max_deliver` and checks it is a pull consumer with explicit acks.
   * @throws OutboxConfigError when the consumer is missing, push-based, not explicit-ack or has no `max_deliver` bound.
   */
  static async create(options: NatsSubscriberCreateOptions): Promise<NatsSubscriber> {
    const jsm = await jetstreamManager(options.connection, options.apiPrefix ? { apiPrefix: options.apiPrefix } : {});
    const where = `consumer ${options.stream}/${options.consumer}`;
    let config: ConsumerConfig;
    try {
      config = (await jsm.consumers.info(options.stream, options.consumer)).config;
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ConsumerNotFoundError' || name === 'StreamNotFoundError') {
        throw new OutboxConfigError('consumer', `${where} does not exist: create it with ensureConsumer()`, { cause: error });
      }
      throw error;
    }
    if (config.deliver_subject || config.ack_policy !== 'explicit') {
      throw new OutboxConfigError('consumer', `${where} must be a pull consumer with explicit acks (see ensureConsumer())`);
    }
    const maxDeliver = config.max_deliver ?? -1;
    if (maxDeliver < 1) {
      throw new OutboxConfigError(
        'max_deliver',
        `${where} has no max_deliver bound: a poison message would be redelivered forever; set maxDeliver in ensureConsumer()`,
      );
    }
    const horizon = redeliveryHorizonMs({
      ackWaitMs: nanosToMs(config.ack_wait ?? 30_000_000_000),
      maxDeliver,
      backoffMs: (config.backoff ?? []).map(nanosToMs),
      maxNakDelayMs: options.maxNakDelayMs ?? 30_000,
    });
    const { maxNakDelayMs: _, ...rest } = options;
    return new NatsSubscriber({ ...rest, maxDeliver, redeliveryHorizonMs: horizon });
  }

  async fetch(options: FetchOptions): Promise<readonly NatsDelivery[]> {
    if (this.#closed) throw new OutboxUsageError(`fetch() on subscriber ${this.name} after close()`);
    if (this.#fetching)
      throw new OutboxUsageError(`fetch() on subscriber ${this.name} while another fetch() runs; use one subscriber per loop`);
    if (this.#connection.isClosed())
      throw new OutboxError('DISCONNECTED', `fetch() on subscriber ${this.name}: the NATS connection is closed`);
    const max = validateInteger(options.max, 'max', 1, 10_000);
    const expiresMs = Math.max(10, Math.round(options.expiresMs));
    this.#fetching = true;
    try {
      if (this.#buffer.length === 0) {
        await this.#pull({ batch: max, no_wait: true }, this.#context.timeoutMs, max, options.signal);
      }
      if (this.#buffer.length === 0 && !options.signal?.aborted) {
        // Wait for one message only: a pull for a whole batch would hold a partial batch back until it expires.
        await this.#pull({ batch: 1, expires: msToNanos(expiresMs) }, expiresMs + this.#context.timeoutMs, 1, options.signal);
        if (this.#buffer.length > 0 && max > 1) {
          await this.#pull({ batch: max - this.#buffer.length, no_wait: true }, this.#context.timeoutMs, max, options.signal);
        }
      }
      return this.#take(max);
    } finally {
      this.#fetching = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription.unsubscribe();
    this.#wake?.();
    // Received but never handed out: give them back now rather than after ack_wait.
    for (const msg of this.#buffer.splice(0)) msg.respond('-NAK');
    if (!this.#connection.isClosed()) {
      // Bounded: while the connection is reconnecting a flush waits for the server.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#connection.flush().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#context.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    // Settlements still waiting fail as DISCONNECTED; their messages come back after ack_wait.
    this.#replies.close();
  }

  /** Sends one pull request and waits until it ends, `want` messages are buffered, the deadline passes or the signal aborts. */
  async #pull(request: Record<string, unknown>, deadlineMs: number, want: number, signal: AbortSignal | undefined): Promise<void> {
    const token = String(++this.#pullCount);
    const pull: Pull = { ended: false };
    this.#pulls.set(token, pull);
    this.#connection.publish(this.#nextSubject, JSON.stringify(request), { reply: `${this.#inbox}.${token}` });
    const deadline = Date.now() + deadlineMs;
    try {
      while (!pull.ended && this.#buffer.length < want && !this.#closed && !signal?.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await this.#waitForActivity(left, signal);
      }
    } finally {
      this.#pulls.delete(token);
    }
    if (pull.status === 503) {
      throw new OutboxConfigError(
        'consumer',
        `consumer ${this.#stream}/${this.name} does not exist (no responders): create it with ensureConsumer()`,
      );
    }
    if (pull.status === 409 && /deleted|push based/i.test(pull.description ?? '')) {
      throw new OutboxConfigError('consumer', `consumer ${this.#stream}/${this.name}: ${pull.description}`);
    }
  }

  #waitForActivity(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error) {
      this.#logger.warn({ consumer: this.name, error: error.message }, 'the subscriber inbox reported an error');
    } else if (msg.reply) {
      this.#buffer.push(msg);
    } else {
      const code = msg.headers?.code ?? 0;
      // 100: idle heartbeat. 404 / 408: the pull ended with nothing more. 409: the server cut it short.
      if (code !== 100) {
        const pull = this.#pulls.get(msg.subject.slice(this.#inbox.length + 1));
        if (pull) {
          pull.ended = true;
          pull.status = code;
          pull.description = msg.headers?.description;
          if (code === 409) this.#logger.debug({ consumer: this.name, description: pull.description }, 'pull request ended by the server');
        }
      }
    }
    this.#wake?.();
  }

  #take(max: number): NatsDelivery[] {
    const deliveries: NatsDelivery[] = [];
    for (const msg of this.#buffer.splice(0, max)) {
      const info = parseAckSubject(msg.reply);
      if (info === null) {
        this.#logger.warn({ consumer: this.name, subject: msg.subject }, 'ignored a message that is not a JetStream delivery');
        continue;
      }
      deliveries.push(new NatsDelivery(msg, info, this.#context));
    }
    return deliveries;
  }
}
