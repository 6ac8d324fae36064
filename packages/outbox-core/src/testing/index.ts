/**
 * In-memory fakes for unit tests of code that uses outboxkit: an outbox store, an inbox store and
 * a bus. They pass the same conformance suites as the real stores and bus, and need no test runner.
 * @packageDocumentation
 */

export { ManualClock } from './manual-clock.js';
export { MemoryBus, type MemoryBusOptions, type MemoryDeadLetter, type MemoryMessage, type MemorySubscriberOptions } from './memory-bus.js';
export { MemoryInboxStore } from './memory-inbox-store.js';
export { MemoryOutboxStore, type MemoryTransaction, memoryTransaction } from './memory-outbox-store.js';
