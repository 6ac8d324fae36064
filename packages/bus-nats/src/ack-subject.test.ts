import { describe, expect, it } from 'vitest';
import { parseAckSubject } from './ack-subject.js';

describe('parseAckSubject', () => {
  it('reads the 9-token form', () => {
    expect(parseAckSubject('$JS.ACK.EVENTS.basket.3.42.40.1795662015098250430.7')).toEqual({
      stream: 'EVENTS',
      consumer: 'basket',
      deliveryCount: 3,
      streamSequence: 42,
    });
  });

  it('reads the form with domain and account hash', () => {
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.EVENTS.basket.1.5.5.1795662015098250430.0.token')).toEqual({
      stream: 'EVENTS',
      consumer: 'basket',
      deliveryCount: 1,
      streamSequence: 5,
    });
  });

  it('returns null for other subjects', () => {
    expect(parseAckSubject(undefined)).toBeNull();
    expect(parseAckSubject('_INBOX.abc')).toBeNull();
    expect(parseAckSubject('$JS.ACK.EVENTS.basket.x.5.5.1.0')).toBeNull();
  });
});
