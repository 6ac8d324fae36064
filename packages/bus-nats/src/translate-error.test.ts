import { JetStreamApiError } from '@nats-io/jetstream';
import { errors } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { translatePublishError } from './translate-error.js';

function translate(error: unknown) {
  const translated = translatePublishError(error, 'events.x', 'id-1');
  return { code: translated.code, retryable: translated.retryable, cause: translated.cause };
}

describe('translatePublishError', () => {
  it('maps no responders to NO_STREAM, retryable (a missing stream is an outage)', () => {
    const noResponders = new errors.RequestError('no responders', { cause: new errors.NoRespondersError('events.x') });
    expect(translate(new Error('jetstream is not enabled', { cause: noResponders }))).toMatchObject({
      code: 'NO_STREAM',
      retryable: true,
    });
  });

  it('maps timeouts and lost connections to retryable codes, keeping the cause', () => {
    const timeout = new errors.TimeoutError();
    expect(translate(timeout)).toEqual({ code: 'PUBLISH_TIMEOUT', retryable: true, cause: timeout });
    expect(translate(new errors.ClosedConnectionError())).toMatchObject({ code: 'DISCONNECTED', retryable: true });
    expect(translate(new errors.DrainingConnectionError())).toMatchObject({ code: 'DISCONNECTED', retryable: true });
  });

  it("maps the stream's size limit to PAYLOAD_TOO_LARGE and JetStream 503 to retryable", () => {
    const tooBig = new JetStreamApiError({ code: 400, err_code: 10054, description: 'message size exceeds maximum allowed' });
    expect(translate(tooBig)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', retryable: false });
    const unavailable = new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' });
    expect(translate(unavailable)).toMatchObject({ code: 'PUBLISH_FAILED', retryable: true });
    const refused = new JetStreamApiError({ code: 400, err_code: 10060, description: 'expected stream does not match' });
    expect(translate(refused)).toMatchObject({ code: 'PUBLISH_FAILED', retryable: false });
  });
});
