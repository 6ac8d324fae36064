import { createEvent, type OutboxEvent } from '../event/event.js';

/** A test event on `subject` whose data carries `n`, to check order and payload pass-through. */
export function sampleEvent(subject: string, n: number, extra: Record<string, unknown> = {}): OutboxEvent<{ n: number }> {
  return createEvent({
    type: 'test.sample.happened',
    source: 'outboxkit-tests',
    subject,
    data: { n, ...extra },
    headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  });
}
