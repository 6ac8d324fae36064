import { describe, expect, it } from 'vitest';
import { createRelayMetrics } from './metrics.js';

describe('createRelayMetrics', () => {
  it('turns relay events and stats into the documented series', async () => {
    let connected = true;
    let reason: string | undefined = 'full';
    const metrics = createRelayMetrics({ natsConnected: () => connected, outage: () => reason !== undefined, outageReason: () => reason });
    const batch = {
      type: 'batch',
      size: 10,
      published: 8,
      duplicates: 1,
      failed: 1,
      dead: 1,
      durationMs: 12,
      publishMs: 5,
      lagMs: 40,
    } as const;
    metrics.observe(batch);
    metrics.observe(batch);
    metrics.setStats({ pending: 42, oldestPendingAgeMs: 1500, dead: 3 });
    connected = false;
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^outbox_published_total 16$/m);
    expect(text).toMatch(/^outbox_duplicates_total 2$/m);
    expect(text).toMatch(/^outbox_failed_total 2$/m);
    expect(text).toMatch(/^outbox_dead_lettered_total 2$/m);
    expect(text).toMatch(/^outbox_pending 42$/m);
    expect(text).toMatch(/^outbox_oldest_pending_age_seconds 1.5$/m);
    expect(text).toMatch(/^outbox_dead 3$/m);
    expect(text).toMatch(/^outbox_bus_outage 1$/m);
    expect(text).toMatch(/^outbox_bus_outage_reason\{reason="full"\} 1$/m);
    expect(text).toMatch(/^outbox_bus_outage_reason\{reason="stream-missing"\} 0$/m);
    reason = undefined;
    expect(await metrics.registry.metrics()).toMatch(/^outbox_bus_outage_reason\{reason="full"\} 0$/m);
    expect(text).toMatch(/^outbox_batch_size_count 2$/m);
    expect(text).toMatch(/^outbox_publish_latency_seconds_sum 0.01$/m);
    expect(text).toMatch(/^outbox_nats_connected 0$/m);
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});
