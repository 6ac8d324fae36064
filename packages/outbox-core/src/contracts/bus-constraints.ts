/**
 * What a bus binding writes itself and so cannot carry from an event: a `Publisher` declares it
 * (`Publisher.constraints`), and `validateEvent` refuses it at the door.
 */
export interface PublisherConstraints {
  /** Header name prefixes the binding owns, lower-case; an event header starting with one (any case) is refused. */
  readonly reservedHeaderPrefixes: readonly string[];
  /** Header names the binding owns, lower-case; matched case-insensitively. */
  readonly reservedHeaderNames: readonly string[];
}

/**
 * The union over every supported bus, and the one list `validateEvent` checks: an outbox row is
 * written before anyone knows which bus will carry it. NATS JetStream owns `Nats-*` (`Nats-Msg-Id`
 * is the dedup id; `Nats-Rollup`, `Nats-Expected-*`, `Nats-TTL` change what the stream does); the
 * CloudEvents binary binding owns `ce-*` and `content-type`; outboxkit's dead-letter replays own
 * `outbox-replay-*` (an event carrying `outbox-replay-consumer` would be skipped by every consumer
 * but the one it names) and gap markers own `outbox-gap-*` (a message carrying one is not an event). A bus binding's declaration must be covered by this list
 * (`describePublisher` checks it).
 */
export const RESERVED_HEADERS: PublisherConstraints = Object.freeze({
  reservedHeaderPrefixes: Object.freeze(['nats-', 'ce-', 'outbox-replay-', 'outbox-gap-']),
  reservedHeaderNames: Object.freeze(['content-type']),
});

/** The rule of `constraints` that reserves header `name` (e.g. `'nats-'`), or `undefined` when the name is free. */
export function reservedHeaderRule(name: string, constraints: PublisherConstraints = RESERVED_HEADERS): string | undefined {
  const lower = name.toLowerCase();
  if (constraints.reservedHeaderNames.includes(lower)) return lower;
  return constraints.reservedHeaderPrefixes.find((prefix) => lower.startsWith(prefix));
}
