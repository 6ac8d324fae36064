import { bindingHeaderBytesMax } from '@outboxkit/bus-nats';
import type { CliLogger } from './logger.js';

/**
 * Whether an event at the enqueue limit fits the server's `max_payload` with the headers the NATS
 * binding adds. Returns the warning it logged, or `undefined` when it fits (or the server did not
 * say). A warning, not an exit: events under the server's limit publish fine, and larger ones are
 * each dead-lettered as `PAYLOAD_TOO_LARGE`, never retried.
 */
export function checkMaxPayload(maxPayload: number | undefined, maxEventBytes: number, logger: CliLogger): string | undefined {
  if (maxPayload === undefined || maxPayload <= 0) return undefined;
  const headerBytes = bindingHeaderBytesMax();
  if (maxEventBytes + headerBytes <= maxPayload) return undefined;
  const fits = Math.max(0, maxPayload - headerBytes);
  const message = `the enqueue limit (--max-event-bytes / OUTBOX_MAX_EVENT_BYTES and the stores' maxEventBytes: ${maxEventBytes} bytes) plus up to ${headerBytes} bytes of transport headers is over the NATS server's max_payload (${maxPayload} bytes): events larger than ${fits} bytes will be dead-lettered as PAYLOAD_TOO_LARGE. Set maxEventBytes to at most ${fits} on the producing services' stores and here, or raise max_payload on the server`;
  logger.warn({ maxEventBytes, maxPayload, headerBytes, fits }, message);
  return message;
}
