import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { createInbox, errors, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';

interface Pending {
  readonly resolve: (reply: Msg) => void;
  readonly reject: (error: Error) => void;
  readonly subject: string;
  readonly deadline: number;
}

/**
 * Requests on the hot paths (JetStream publishes, acks) as plain messages with a reply subject on
 * one wildcard inbox, replies matched by token, and one timer for all of them.
 *
 * Why not `connection.request()` / `js.publish()`: each client request builds an `Error` for its
 * "cancelled" path even when it succeeds, a promise race with a timer of its own, and two more
 * `Error`s without `noAsyncTraces`; in a profile of `NatsPublisher` the first alone was 7% of its
 * CPU. Failures are the client's own error classes, so `translatePublishError` reads them alike.
 */
export class ReplyInbox {
  readonly #connection: NatsConnection;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, Pending>();
  #prefix = '';
  #subscription: Subscription | null = null;
  #next = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(connection: NatsConnection, timeoutMs: number) {
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
  }

  /** Publishes and resolves with the reply; rejects with the client's `TimeoutError`, a no-responders `RequestError` or a connection error. */
  request(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      if (this.#subscription === null) this.#open();
      const token = (++this.#next).toString(36);
      try {
        this.#connection.publish(subject, data, headers ? { headers, reply: this.#prefix + token } : { reply: this.#prefix + token });
      } catch (error) {
        reject(error as Error);
        return;
      }
      // Deadlines grow with insertion order, which the Map keeps: the sweep reads from the front.
      this.#pending.set(token, { resolve, reject, subject, deadline: Date.now() + this.#timeoutMs });
      this.#timer ??= this.#schedule(this.#timeoutMs);
    });
  }

  /** Fails every request still waiting for its reply with `error` (the inbox stays open). */
  failPending(error: Error): void {
    this.#failAll(error);
  }

  /** Unsubscribes the inbox and fails what is still waiting. The connection stays open. */
  close(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
    this.#failAll(new errors.ClosedConnectionError());
  }

  #open(): void {
    const inbox = createInbox((this.#connection as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#prefix = `${inbox}.`;
    this.#subscription = this.#connection.subscribe(`${inbox}.*`, { callback: (error, msg) => this.#receive(error, msg) });
    void this.#connection.closed().then(() => {
      this.#subscription = null;
      this.#failAll(new errors.ClosedConnectionError());
    });
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error) {
      this.#failAll(error);
      return;
    }
    const token = msg.subject.slice(this.#prefix.length);
    const pending = this.#pending.get(token);
    if (!pending) return; // answered after its timeout
    this.#pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      pending.reject(
        new errors.RequestError(`no responders: '${pending.subject}'`, { cause: new errors.NoRespondersError(pending.subject) }),
      );
      return;
    }
    pending.resolve(msg);
  }

  #schedule(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.#sweep(), Math.max(1, ms));
    timer.unref();
    return timer;
  }

  #sweep(): void {
    this.#timer = null;
    const now = Date.now();
    for (const [token, pending] of this.#pending) {
      if (pending.deadline > now) {
        this.#timer = this.#schedule(pending.deadline - now);
        return;
      }
      this.#pending.delete(token);
      pending.reject(new errors.TimeoutError());
    }
  }

  #failAll(error: Error): void {
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of waiting) pending.reject(error);
  }
}

/**
 * Reads a PubAck.
 * @throws the client's `JetStreamApiError` when JetStream refused the message.
 */
export function parsePubAck(msg: Msg): PubAck {
  let body: Partial<PubAck> & { error?: ConstructorParameters<typeof JetStreamApiError>[0] };
  try {
    body = msg.json();
  } catch (error) {
    throw new Error(`invalid PubAck: ${msg.string()}`, { cause: error });
  }
  if (body.error) throw new JetStreamApiError(body.error);
  if (!body.stream) throw new Error(`invalid PubAck: ${msg.string()}`);
  return { stream: body.stream, seq: body.seq ?? 0, duplicate: body.duplicate === true, ...(body.domain ? { domain: body.domain } : {}) };
}
