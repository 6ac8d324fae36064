import { describeInboxStore, describeOutboxStore } from '@outboxkit/outbox-core/conformance';
import { mysqlInboxHarness, mysqlOutboxHarness } from './harness.js';

describeOutboxStore('MysqlOutboxStore', mysqlOutboxHarness);
describeInboxStore('MysqlInboxStore', mysqlInboxHarness);
