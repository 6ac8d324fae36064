import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureStream, readDuplicateWindowMs, streamInfoOrNull } from '@outboxkit/bus-nats';
import type { Logger } from '@outboxkit/outbox-core';
import type { NatsConfig } from './nats-config.js';

/** Waits between stream set-up attempts while JetStream has no leader: 0.5 s doubling to 10 s. */
const firstWaitMs = 500;
const longestWaitMs = 10_000;

/**
 * Makes sure the relay's stream exists and captures `<prefix>.>`, and returns its
 * `duplicate_window` in ms for the relay's startup check (the coherent windows of the README).
 *
 * With `ensureStream` a missing stream is created with `duplicateWindowMs`, `streamReplicas` and
 * `streamPlacement`; an existing stream's window, replicas and placement are left as its owner set
 * them (the window is checked), missing subjects are added. Without it, the stream must exist.
 *
 * While JetStream cannot answer (a cluster that has no meta leader yet: requests time out or get
 * a 503), it waits with backoff and a `warn` per attempt instead of failing: a relay started with
 * its cluster must not exit on it.
 *
 * @throws OutboxConfigError when the stream is missing (verify mode) or its window is too short.
 */
export async function setUpStream(
  connection: NatsConnection,
  config: NatsConfig,
  republishHorizonMs: number,
  logger: Logger,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await setUpOnce(connection, config, republishHorizonMs, logger);
    } catch (error) {
      if (!isJetStreamUnavailable(error) || connection.isClosed()) throw error;
      const waitMs = Math.min(firstWaitMs * 2 ** (attempt - 1), longestWaitMs);
      logger.warn(
        { stream: config.stream, attempt, waitMs, err: error },
        'JetStream is not available yet (no meta leader?); waiting to set up the stream',
      );
      await sleep(waitMs);
    }
  }
}

async function setUpOnce(connection: NatsConnection, config: NatsConfig, republishHorizonMs: number, logger: Logger): Promise<number> {
  if (!config.ensureStream) return readDuplicateWindowMs(connection, config.stream);
  const existing = await streamInfoOrNull(connection, config.stream);
  const result = await ensureStream(connection, {
    name: config.stream,
    subjects: [`${config.subjectPrefix}.>`],
    ...(existing
      ? {}
      : { duplicateWindowMs: config.duplicateWindowMs, replicas: config.streamReplicas, placement: config.streamPlacement }),
    requiredDuplicateWindowMs: republishHorizonMs,
  });
  const windowMs = Math.round(result.info.config.duplicate_window / 1_000_000);
  const replicas = result.info.config.num_replicas;
  logger.info(
    { stream: config.stream, action: result.action, changed: result.changed, duplicateWindowMs: windowMs, replicas },
    'stream ready',
  );
  if (existing && replicas !== config.streamReplicas && config.streamReplicas !== 1) {
    logger.warn(
      { stream: config.stream, replicas, streamReplicas: config.streamReplicas },
      'the existing stream has another replica count than OUTBOX_STREAM_REPLICAS; the relay does not change an existing stream',
    );
  }
  return windowMs;
}

/** A timeout, or JetStream's 503 ("temporarily unavailable"): no leader to answer yet. */
function isJetStreamUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current.name === 'TimeoutError') return true;
    const api = (current as { apiError?: () => { code?: number } }).apiError?.();
    if (api?.code === 503) return true;
  }
  return false;
}
