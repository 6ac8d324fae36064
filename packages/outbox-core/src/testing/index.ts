export { describeInboxStore, type InboxStoreHarness } from '../conformance/describe-inbox-store.js';
export { describeOutboxStore, type OutboxStoreHarness } from '../conformance/describe-outbox-store.js';
export { describePublisher, type PublisherHarness, sampleRecords } from '../conformance/describe-publisher.js';
export { type RefusedEvent, refusedEvents } from '../conformance/refused-events.js';
export { sampleEvent } from '../conformance/sample-events.js';
export { MemoryBus, type MemoryDeadLetter, type MemoryMessage, type MemorySubscriberOptions } from './memory-bus.js';
export { MemoryInboxStore } from './memory-inbox-store.js';
export { MemoryOutboxStore, type MemoryTransaction, memoryTransaction } from './memory-outbox-store.js';
