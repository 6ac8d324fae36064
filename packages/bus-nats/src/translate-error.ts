import { PublishError } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';

/** The NATS client's error classes, matched by `name` so two copies of the client still match. */
function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 5) {
    chain.push(current);
    current = current.cause;
  }
  return chain;
}

/** A JetStream API error as the client shapes it (`JetStreamApiError`): `code` is the HTTP-like status, `err_code` JetStream's own. */
interface ApiErrorLike {
  apiError(): { code?: number; err_code?: number; description?: string };
}

function isApiError(error: Error): error is Error & ApiErrorLike {
  return typeof (error as Partial<ApiErrorLike>).apiError === 'function';
}

/** JetStream's error code for a message over the stream's `max_msg_size`. */
const MESSAGE_SIZE_EXCEEDS_MAX = 10054;

/**
 * Translates what the NATS client threw for one publish (or ack) into a `PublishError`, keeping it
 * as `cause`. The one place that knows the client's error shapes:
 * - a record the client cannot encode (a header or subject with CR/LF, over `max_payload`) ->
 *   `EVENT_INVALID` or `PAYLOAD_TOO_LARGE`, not retryable: that record fails alone;
 * - no responders (nothing stores the subject) -> `NO_STREAM`, retryable: a deleted or misnamed stream is
 *   an outage of the bus (the relay's probe says `stream-missing` and it pauses), not the event's fault;
 * - a timeout -> `PUBLISH_TIMEOUT`, retryable (the message may or may not be stored: re-send with the same id);
 * - a closed, draining or broken connection -> `DISCONNECTED`, retryable;
 * - JetStream answering 503 (no quorum, leader election) -> retryable;
 * - other JetStream API errors -> `PUBLISH_FAILED`, not retryable.
 */
export function translatePublishError(error: unknown, subject: string, id: string): PublishError {
  const chain = causeChain(error);
  const names = new Set(chain.map((e) => e.name));
  const what = `publish of ${id} to ${subject}`;
  // Thrown synchronously by the client for this record's content: final for it alone.
  if (names.has('InvalidArgumentError') || names.has('InvalidSubjectError') || names.has('TypeError')) {
    const message = errorMessage(chain.at(-1));
    if (/max_payload/i.test(message)) {
      return new PublishError('PAYLOAD_TOO_LARGE', `${what} was refused by the client: ${message} (the server's max_payload)`, false, {
        cause: error,
      });
    }
    if (!/not available on this server/i.test(message)) {
      return new PublishError('EVENT_INVALID', `${what} cannot be encoded as a NATS message: ${message}`, false, { cause: error });
    }
  }
  if (names.has('NoResponders') || names.has('NoRespondersError') || chain.some((e) => /no responders/i.test(e.message))) {
    return new PublishError(
      'NO_STREAM',
      `no JetStream stream stores the subject ${subject} (no responders; ${what}): create a stream whose subjects match it (ensureStream) or change the subject mapping`,
      true,
      { cause: error },
    );
  }
  if (names.has('TimeoutError')) {
    return new PublishError('PUBLISH_TIMEOUT', `${what} timed out waiting for the PubAck; it is retried with the same Nats-Msg-Id`, true, {
      cause: error,
    });
  }
  if (names.has('ClosedConnectionError') || names.has('DrainingConnectionError') || names.has('ConnectionError')) {
    return new PublishError('DISCONNECTED', `${what} failed: the NATS connection is ${errorMessage(chain.at(-1))}`, true, { cause: error });
  }
  const apiError = chain.find(isApiError);
  if (apiError) {
    const detail = apiError.apiError();
    if (detail.err_code === MESSAGE_SIZE_EXCEEDS_MAX) {
      return new PublishError(
        'PAYLOAD_TOO_LARGE',
        `${what} was refused: ${detail.description ?? apiError.message} (the stream's max_msg_size)`,
        false,
        {
          cause: error,
        },
      );
    }
    const retryable = detail.code === 503 || detail.code === 408;
    return new PublishError('PUBLISH_FAILED', `${what} was refused by JetStream: ${apiError.message}`, retryable, { cause: error });
  }
  return new PublishError('PUBLISH_FAILED', `${what} failed: ${errorMessage(error)}`, true, { cause: error });
}
