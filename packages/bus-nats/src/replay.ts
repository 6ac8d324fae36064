/**
 * How a dead-letter replay reaches only the consumer that dead-lettered it, on nats-server 2.9.
 *
 * A replay is published to the event's original subject in the source stream, so every durable
 * consumer whose filter matches stores a delivery of it: a consumer in 2.9 has one filter subject,
 * and a per-consumer replay subject inside a broad filter (`events.>`) would reach the others
 * too. So the replay names its one target in the {@link REPLAY_FOR_HEADER} header, and core's
 * `Consumer` acks a replay meant for another consumer without running a handler (counted as
 * `skipped`). A second pull consumer per durable on a replay stream was the alternative; it needs
 * provisioning per consumer and a second fetch loop that breaks per-subject order, for an
 * operator action that is rare.
 *
 * The replay keeps the event id (`ce-id`), which the target's inbox deduplicates on, and carries
 * a `Nats-Msg-Id` derived from the dead letter ({@link replayMessageId}): replaying the same letter
 * twice (two operators, or a crash between the publish and the letter's deletion) is dropped by
 * the source stream's `duplicate_window`, and past it by the inbox. A replay that fails again is
 * a new dead letter with a new sequence, so its own replay gets a new id and is not dropped.
 */
export const REPLAY_FOR_HEADER = 'outbox-replay-consumer';

/** The `Nats-Msg-Id` of the replay of one dead letter: stable for that letter, distinct from the event id the relay published it with. */
export function replayMessageId(
  deadLetterStream: string,
  deadLetterSequence: number,
  consumer: string,
  eventId: string | undefined,
): string {
  return `${eventId ?? 'no-id'}:replay:${deadLetterStream}:${deadLetterSequence}:${consumer}`;
}
