import type { RelayOutage } from '@outboxkit/outbox-core';
import type { ReadinessCheck } from './http-server.js';

/**
 * What `/readyz` reports on: the relay is ready when it has started, the database answered the last
 * stats query, NATS is connected, the schema version was checked, and the bus is not in an outage.
 * "Started" comes last in start-up: until then a signal exits 1 (see ShutdownSignals), so a probe
 * or a script that stops the relay once it is ready always gets the graceful stop and exit 0. From
 * the stop signal on, it is not ready again.
 */
export class RelayReadiness {
  /** The last database failure, `undefined` after a successful query. */
  databaseError: string | undefined = 'not queried yet';
  natsConnected = false;
  /** Why NATS is not connected yet while the relay starts (`nats unreachable: ...`). */
  natsError: string | undefined;
  schemaChecked = false;
  /** True once the relay runs (set after `Relay.start()`, never before the signal handling is graceful). */
  started = false;
  /**
   * True from the first stop signal on: the relay finishes its in-flight batch and claims nothing
   * more, so a load balancer or an orchestrator must stop counting on it.
   */
  stopping = false;
  /** Reads the relay's outage: its reason while claiming is paused. */
  busOutage: () => RelayOutage | undefined = () => undefined;

  /** True while the relay's claiming is paused by a bus outage. */
  outage(): boolean {
    return this.busOutage() !== undefined;
  }

  /** The checks, in the order `/readyz` lists their failures. */
  checks(): ReadinessCheck[] {
    return [
      { name: 'database', failure: () => (this.databaseError === undefined ? undefined : `database unreachable: ${this.databaseError}`) },
      { name: 'nats', failure: () => (this.natsConnected ? undefined : (this.natsError ?? 'NATS is not connected')) },
      { name: 'schema', failure: () => (this.schemaChecked ? undefined : 'the outbox schema version is not checked yet') },
      {
        name: 'relay',
        failure: () => {
          if (this.stopping) return 'the relay is stopping';
          return this.started ? undefined : 'the relay is starting';
        },
      },
      {
        name: 'bus',
        failure: () => {
          const outage = this.busOutage();
          return outage && `bus outage (${outage.reason}) since ${outage.since.toISOString()}: ${outage.detail}; claiming is paused`;
        },
      },
    ];
  }
}
