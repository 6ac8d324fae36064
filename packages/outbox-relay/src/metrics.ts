import type { OutboxStats, RelayEvent } from '@outboxkit/outbox-core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The relay's Prometheus series, fed by `RelayEvent`s and the periodic `stats()`. */
export interface RelayMetrics {
  readonly registry: Registry;
  /** Feeds one relay event to the counters and histograms. */
  observe(event: RelayEvent): void;
  /** Sets the backlog gauges from a `stats()` result. */
  setStats(stats: OutboxStats): void;
}

/** The live state behind `outbox_nats_connected` and `outbox_bus_outage`, read at scrape time. */
export interface RelayStateSource {
  natsConnected(): boolean;
  outage(): boolean;
  /** The reason of the current outage (`full`, `stream-missing`, ...), `undefined` when there is none. */
  outageReason?(): string | undefined;
}

/** Every reason `outbox_bus_outage_reason` reports, so each series exists (0) before its first outage. */
const outageReasons = ['unreachable', 'stream-missing', 'no-leader', 'full'] as const;

/**
 * Creates the registry: backlog gauges, publish counters, latency and batch-size histograms, and
 * the process metrics of prom-client. A registry of its own, so an embedding app's default
 * registry is left alone.
 */
export function createRelayMetrics(state?: RelayStateSource): RelayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const pending = new Gauge({ name: 'outbox_pending', help: 'Outbox rows not yet published and not dead.', registers: [registry] });
  const oldest = new Gauge({
    name: 'outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest pending outbox row (the relay lag); 0 when the outbox is empty.',
    registers: [registry],
  });
  const dead = new Gauge({ name: 'outbox_dead', help: 'Dead-lettered outbox rows.', registers: [registry] });
  const published = new Counter({
    name: 'outbox_published_total',
    help: 'Events the bus acknowledged (duplicates included).',
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'outbox_duplicates_total',
    help: 'Acknowledged events the bus already had (a re-publish after a crash or timeout).',
    registers: [registry],
  });
  const failed = new Counter({ name: 'outbox_failed_total', help: 'Failed publishes (each will be retried).', registers: [registry] });
  const deadLettered = new Counter({
    name: 'outbox_dead_lettered_total',
    help: 'Events moved to the dead state by this relay.',
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'outbox_publish_latency_seconds',
    help: 'Time from sending a batch to its last PubAck.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'outbox_batch_size',
    help: 'Events per claimed batch.',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers: [registry],
  });
  new Gauge({
    name: 'outbox_nats_connected',
    help: '1 while the NATS connection is up.',
    registers: [registry],
    collect() {
      if (state) this.set(state.natsConnected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'outbox_bus_outage',
    help: '1 while claiming is paused because the bus cannot take events.',
    registers: [registry],
    collect() {
      if (state) this.set(state.outage() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'outbox_bus_outage_reason',
    help: '1 for the reason of the current bus outage (unreachable, stream-missing, no-leader, full), 0 for the others.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const current = state?.outageReason?.();
      for (const reason of outageReasons) this.set({ reason }, reason === current ? 1 : 0);
    },
  });
  const storeErrors = new Counter({
    name: 'outbox_store_errors_total',
    help: 'Failed database calls of the relay loop, by phase.',
    labelNames: ['phase'],
    registers: [registry],
  });

  return {
    registry,
    observe(event) {
      switch (event.type) {
        case 'batch':
          published.inc(event.published);
          duplicates.inc(event.duplicates);
          failed.inc(event.failed);
          deadLettered.inc(event.dead);
          latency.observe(event.publishMs / 1000);
          batchSize.observe(event.size);
          break;
        case 'store-error':
          storeErrors.inc({ phase: event.phase });
          break;
        default:
          break;
      }
    },
    setStats(stats) {
      pending.set(stats.pending);
      oldest.set((stats.oldestPendingAgeMs ?? 0) / 1000);
      dead.set(stats.dead);
    },
  };
}
