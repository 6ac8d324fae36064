/**
 * The conformance suites every store and bus binding runs: vitest suites that take a harness.
 * This entry imports `vitest` (an optional peer dependency, needed only here).
 * @packageDocumentation
 */
export { describeInboxOnRunner, type InboxOnRunnerHarness } from './describe-inbox-on-runner.js';
export { describeInboxStore, type InboxStoreHarness } from './describe-inbox-store.js';
export { describeOutboxStore, type OutboxStoreHarness } from './describe-outbox-store.js';
export { describePublisher, type PublisherHarness } from './describe-publisher.js';
