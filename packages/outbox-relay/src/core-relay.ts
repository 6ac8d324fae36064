// `@outboxkit/outbox-core` does not list `Relay` in its index yet. Until it does, the CLI bundles
// the relay from core's source; when core exports it, this file becomes:
//   export { Relay, type RelayEvent } from '@outboxkit/outbox-core';
export { Relay, type RelayOptions } from '../../outbox-core/src/relay.js';
export type { RelayDrainResult, RelayEvent, RelayStopResult } from '../../outbox-core/src/relay-events.js';
