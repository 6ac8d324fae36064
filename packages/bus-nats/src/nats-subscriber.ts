import { type ConsumerConfig, jetstreamManager } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { type FetchOptions, type Logger, OutboxConfigError, OutboxError, OutboxUsageError, type Subscriber } from '@outboxkit/outbox-core';
import { noopLogger, validateInteger } from '@outboxkit/outbox-core/driver';
import { parseAckSubject } from './ack-subject.js';
import { DEFAULT_DEAD_LETTER_PREFIX, deadLetterSubject } from './dead-letter.js';
import { msToNanos, nanosToMs } from './durations.js';
import { redeliveryHorizonMs } from './ensure-consumer.js';
import { type DeliveryContext, NatsDelivery } from './nats-delivery.js';
import { ReplyInbox } from './reply-inbox.js';
import type { SubjectCheck } from './subject-check.js';
import { waitForWake } from './wait-for-wake.js';

/** Options of {@link NatsSubscriber}. */
export interface NatsSubscriberOptions {
  /** The caller's connection; the subscriber never closes or drains it. */
  readonly connection: NatsConnection;
  readonly stream: string;
  /** The durable pull consumer's name (see `ensureConsumer`). */
  readonly consumer: string;
  /**
   * The consumer's name in the inbox and in dead letters, when it is not the durable's: the
   * durables of a partitioned consumer (`basket-p3`) all record as `basket`. @defaultValue `consumer`
   */
  readonly name?: string;
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
  /** The consumer's `ack_wait`: core's `Consumer` keeps held messages alive well within it. */
  readonly ackWaitMs?: number;
  /** The consumer's `max_ack_pending`: core's `Consumer` holds back fewer messages than this. */
  readonly maxAckPending?: number;
  /**
   * Bytes one pull may return (`max_bytes`), so a fetch of large messages stays bounded in memory.
   * At least the server's `max_payload` (a smaller bound could never deliver a message that size).
   * @defaultValue fetch size x `max_payload`, at most 16 MiB, at least `max_payload`
   */
  readonly maxBytes?: number;
  /**
   * The largest message the dead-letter stream takes (its `max_msg_size`); `NatsSubscriber.create`
   * reads it. The `outbox-dead-error` header is cut so a dead letter fits it and `max_payload`.
   */
  readonly deadLetterMaxBytes?: number;
  /**
   * How a message's NATS subject is checked against its `ce-type`; a mismatch is dead-lettered as
   * `FORGED_SUBJECT`. `'suffix'` fits `NatsPublisher`'s default `<subjectPrefix>.<type>`; with a
   * custom publisher `subject` mapping pass `(type) => subject`; `'off'` trusts `ce-type`.
   * @defaultValue 'suffix'
   */
  readonly subjectCheck?: SubjectCheck;
  /** @defaultValue a no-op logger */
  readonly logger?: Logger;
}

/** Options of {@link NatsSubscriber.create}: `maxDeliver` and the redelivery horizon are read from the consumer. */
export interface NatsSubscriberCreateOptions
  extends Omit<NatsSubscriberOptions, 'maxDeliver' | 'redeliveryHorizonMs' | 'ackWaitMs' | 'maxAckPending' | 'deadLetterMaxBytes'> {
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
 * for (const delivery of await subscriber.fetch({ max: 100, expiresMs: 5_000 })) {
 *   const event = delivery.decode(); // then apply it, in a transaction with the inbox
 *   await delivery.ack();
 * }
 * ```
 */
export class NatsSubscriber implements Subscriber {
  readonly name: string;
  /** OpenTelemetry's `messaging.system` of the consumer's spans and metrics. */
  readonly messagingSystem = 'nats';
  readonly maxDeliver: number;
  readonly redeliveryHorizonMs: number | undefined;
  readonly ackWaitMs: number | undefined;
  readonly maxAckPending: number | undefined;
  readonly #maxBytes: number | undefined;
  readonly #connection: NatsConnection;
  readonly #stream: string;
  /** The durable pulled from (`name` unless the subscriber reads one partition). */
  readonly #durable: string;
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
  readonly #apiPrefix: string | undefined;
  #manager: ReturnType<typeof jetstreamManager> | undefined;

  /**
   * Subscribes to the reply inbox at once; no request is sent until `fetch`.
   * @throws OutboxConfigError for an invalid option.
   */
  constructor(options: NatsSubscriberOptions) {
    this.name = options.name ?? options.consumer;
    this.#durable = options.consumer;
    this.maxDeliver = validateInteger(options.maxDeliver, 'maxDeliver', 1);
    this.redeliveryHorizonMs = options.redeliveryHorizonMs;
    this.ackWaitMs = options.ackWaitMs;
    this.maxAckPending = options.maxAckPending;
    this.#connection = options.connection;
    this.#apiPrefix = options.apiPrefix;
    if (options.maxBytes !== undefined) {
      this.#maxBytes = validateInteger(options.maxBytes, 'maxBytes', 1);
      const maxPayload = options.connection.info?.max_payload;
      if (maxPayload !== undefined && this.#maxBytes < maxPayload) {
        throw new OutboxConfigError(
          'maxBytes',
          `maxBytes ${this.#maxBytes} is below the server's max_payload ${maxPayload}: a message that size could never be fetched; set at least ${maxPayload}`,
        );
      }
    }
    this.#stream = options.stream;
    this.#logger = options.logger ?? noopLogger;
    const apiPrefix = options.apiPrefix ?? '$JS.API';
    this.#replies = new ReplyInbox(options.connection, validateInteger(options.timeoutMs ?? 5_000, 'timeoutMs', 1));
    this.#context = {
      replies: this.#replies,
      consumer: this.name,
      deadLetterPrefix: options.deadLetterPrefix ?? DEFAULT_DEAD_LETTER_PREFIX,
      timeoutMs: validateInteger(options.timeoutMs ?? 5_000, 'timeoutMs', 1),
      maxMessageBytes: () => {
        const maxPayload = options.connection.info?.max_payload ?? Number.POSITIVE_INFINITY;
        const limit = options.deadLetterMaxBytes;
        return limit !== undefined && limit > 0 ? Math.min(limit, maxPayload) : maxPayload;
      },
      subjectCheck: subjectCheckOption(options.subjectCheck),
    };
    this.#nextSubject = `${apiPrefix}.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
    this.#inbox = createInbox((options.connection as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#subscription = options.connection.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => this.#receive(error, msg),
    });
  }

  /**
   * Reads the consumer's `max_deliver`, `ack_wait` and `max_ack_pending` and checks it is a pull
   * consumer with explicit acks; checks that a stream stores this consumer's dead letters
   * (`<deadLetterPrefix>.<consumer>.>`) and reads its `max_msg_size`.
   * @throws OutboxConfigError when the consumer is missing, push-based, not explicit-ack or has no
   * `max_deliver` bound, or when no stream stores its dead letters.
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
    const deadLetterMaxBytes = await deadLetterStreamLimit(jsm, options, where);
    const { maxNakDelayMs: _, ...rest } = options;
    return new NatsSubscriber({
      ...rest,
      maxDeliver,
      redeliveryHorizonMs: horizon,
      ackWaitMs: nanosToMs(config.ack_wait ?? 30_000_000_000),
      ...(config.max_ack_pending !== undefined && config.max_ack_pending > 0 ? { maxAckPending: config.max_ack_pending } : {}),
      ...(deadLetterMaxBytes === undefined ? {} : { deadLetterMaxBytes }),
    });
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
      const maxBytes = this.#pullBytes(max);
      if (this.#buffer.length === 0) {
        await this.#pull({ batch: max, no_wait: true, max_bytes: maxBytes }, this.#context.timeoutMs, max, options.signal);
      }
      if (this.#buffer.length === 0 && !options.signal?.aborted) {
        // Wait for one message only: a pull for a whole batch would hold a partial batch back until it expires.
        await this.#pull(
          { batch: 1, expires: msToNanos(expiresMs), max_bytes: this.#pullBytes(1) },
          expiresMs + this.#context.timeoutMs,
          1,
          options.signal,
        );
        if (this.#buffer.length > 0 && max > 1) {
          const batch = max - this.#buffer.length;
          await this.#pull({ batch, no_wait: true, max_bytes: this.#pullBytes(batch) }, this.#context.timeoutMs, max, options.signal);
        }
      }
      return this.#take(max);
    } finally {
      this.#fetching = false;
    }
  }

  /** `max_bytes` of a pull for `batch` messages (see {@link NatsSubscriberOptions.maxBytes}). */
  #pullBytes(batch: number): number {
    if (this.#maxBytes !== undefined) return this.#maxBytes;
    const maxPayload = this.#connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    return Math.max(maxPayload, Math.min(batch * maxPayload, MAX_DEFAULT_PULL_BYTES));
  }

  /** The durable's `num_pending`: messages of the stream it has not been delivered yet. */
  async pending(): Promise<number> {
    this.#manager ??= jetstreamManager(this.#connection, this.#apiPrefix ? { apiPrefix: this.#apiPrefix } : {});
    const manager = await this.#manager.catch((error: unknown) => {
      this.#manager = undefined;
      throw error;
    });
    return (await manager.consumers.info(this.#stream, this.#durable)).num_pending;
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
        `consumer ${this.#stream}/${this.#durable} does not exist (no responders): create it with ensureConsumer()`,
      );
    }
    if (pull.status === 409 && /deleted|push based/i.test(pull.description ?? '')) {
      throw new OutboxConfigError('consumer', `consumer ${this.#stream}/${this.#durable}: ${pull.description}`);
    }
  }

  #waitForActivity(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return waitForWake(timeoutMs, signal, (wake) => {
      this.#wake = wake;
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

/** nats-server's default `max_payload`, for a connection that has not reported its own. */
const DEFAULT_MAX_PAYLOAD = 1_048_576;
/** The default `max_bytes` of one pull is at most this (unless `max_payload` alone is larger). */
const MAX_DEFAULT_PULL_BYTES = 16 * 1_048_576;

/**
 * Finds the stream that stores `consumer`'s dead letters and returns its `max_msg_size` (undefined
 * when unlimited). A missing dead-letter stream would make every dead letter fail: refuse to start.
 */
async function deadLetterStreamLimit(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  options: NatsSubscriberCreateOptions,
  where: string,
): Promise<number | undefined> {
  const subject = deadLetterSubject(options.deadLetterPrefix ?? DEFAULT_DEAD_LETTER_PREFIX, options.name ?? options.consumer, '>');
  let stream: string | undefined;
  try {
    stream = await jsm.streams.find(subject);
  } catch (error) {
    if ((error as Error).name !== 'StreamNotFoundError' && !/no stream matches subject/i.test((error as Error).message)) throw error;
  }
  if (!stream) {
    throw new OutboxConfigError(
      'deadLetterPrefix',
      `no stream stores the dead letters of ${where} (subject ${subject}): create it with ensureDeadLetterStream({ subjectPrefix }) or set deadLetterPrefix to the prefix of an existing one`,
    );
  }
  const maxMsgSize = (await jsm.streams.info(stream)).config.max_msg_size ?? -1;
  return maxMsgSize > 0 ? maxMsgSize : undefined;
}

function subjectCheckOption(check: SubjectCheck | undefined): SubjectCheck {
  if (check === undefined) return 'suffix';
  if (check === 'suffix' || check === 'off' || typeof check === 'function') return check;
  throw new OutboxConfigError('subjectCheck', `subjectCheck must be 'suffix', 'off' or a function; got ${JSON.stringify(check)}`);
}
