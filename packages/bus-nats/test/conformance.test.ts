import { describePublisher } from '@outboxkit/outbox-core/testing';
import { createNatsPublisherHarness } from './harness.js';

describePublisher('NatsPublisher', () => createNatsPublisherHarness());
