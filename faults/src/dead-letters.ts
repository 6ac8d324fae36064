import type { NatsConnection } from '@nats-io/transport-node';
import { type DeadLetter, listDeadLetters, replayDeadLetters as replay } from '@outboxkit/bus-nats';

export type { DeadLetter };

/** Every dead letter of a scenario's dead-letter stream, oldest first (bus-nats's operator API). */
export function readDeadLetters(nc: NatsConnection, stream: string, subjectPrefix: string): Promise<DeadLetter[]> {
  return listDeadLetters(nc, { stream, subjectPrefix, limit: 100_000 });
}

/** Replays every dead letter of a scenario to its subject, as an operator would after a fix. */
export function replayDeadLetters(nc: NatsConnection, stream: string, subjectPrefix: string): Promise<number> {
  return replay(nc, { stream, subjectPrefix, limit: 100_000 });
}
