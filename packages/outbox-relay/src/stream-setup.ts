import type { NatsConnection } from '@nats-io/transport-node';
import { ensureStream, readDuplicateWindowMs, streamInfoOrNull } from '@outboxkit/bus-nats';
import type { Logger } from '@outboxkit/outbox-core';
import type { NatsConfig } from './config.js';

/**
 * Makes sure the relay's stream exists and captures `<prefix>.>`, and returns its
 * `duplicate_window` in ms for the relay's startup check (DESIGN guarantee 8).
 *
 * With `ensureStream` a missing stream is created with `duplicateWindowMs`; an existing stream's
 * window is left as its owner set it (and only checked), missing subjects are added. Without it,
 * the stream must exist.
 *
 * @throws OutboxConfigError when the stream is missing (verify mode) or its window is too short.
 */
export async function setUpStream(
  connection: NatsConnection,
  config: NatsConfig,
  republishHorizonMs: number,
  logger: Logger,
): Promise<number> {
  if (!config.ensureStream) return readDuplicateWindowMs(connection, config.stream);
  const exists = (await streamInfoOrNull(connection, config.stream)) !== null;
  const result = await ensureStream(connection, {
    name: config.stream,
    subjects: [`${config.subjectPrefix}.>`],
    ...(exists ? {} : { duplicateWindowMs: config.duplicateWindowMs }),
    requiredDuplicateWindowMs: republishHorizonMs,
  });
  const windowMs = Math.round(result.info.config.duplicate_window / 1_000_000);
  logger.info({ stream: config.stream, action: result.action, changed: result.changed, duplicateWindowMs: windowMs }, 'stream ready');
  return windowMs;
}
