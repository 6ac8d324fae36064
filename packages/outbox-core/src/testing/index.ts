export { describeInboxStore, type InboxStoreHarness } from './describe-inbox-store.js';
export { describeOutboxStore, type OutboxStoreHarness } from './describe-outbox-store.js';
export { describePublisher, type PublisherHarness, sampleRecords } from './describe-publisher.js';
export { MemoryBus, type MemoryDeadLetter, type MemoryMessage, type MemorySubscriberOptions } from './memory-bus.js';
export { MemoryInboxStore } from './memory-inbox-store.js';
export { MemoryOutboxStore, type MemoryTransaction, memoryTransaction } from './memory-outbox-store.js';
export { type RefusedEvent, refusedEvents } from './refused-events.js';
export { sampleEvent } from './sample-events.js';
