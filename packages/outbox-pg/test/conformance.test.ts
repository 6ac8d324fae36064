import { describeInboxStore, describeOutboxStore } from '@outboxkit/outbox-core/conformance';
import { pgInboxHarness, pgOutboxHarness } from './harness.js';

describeOutboxStore('PgOutboxStore', pgOutboxHarness);
describeInboxStore('PgInboxStore', pgInboxHarness);
