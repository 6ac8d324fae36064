import { describePublisher } from '@outboxkit/outbox-core/conformance';
import { createNatsPublisherHarness } from './harness.js';

describePublisher('NatsPublisher', () => createNatsPublisherHarness());
