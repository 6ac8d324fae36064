export { type Application, type Counts, createFaultDatabase, type DatabaseKind, type FaultDatabase } from './databases.js';
export { type DeadLetter, readDeadLetters, replayDeadLetters } from './dead-letters.js';
export { RELAY_BIN, sleep, uniqueName, waitUntil } from './env.js';
export { ItemChanged, ItemPoisoned } from './events.js';
export { type NatsNode, type NatsServers, startNatsServers } from './nats-servers.js';
export { ManagedProcess, runToCompletion, stopAllProcesses } from './processes.js';
export { formatResult, Scenario, type ScenarioOptions, type ScenarioResult } from './scenario.js';
export {
  badConfiguration,
  badInput,
  type ConfigOutcome,
  clusterNodeKilled,
  consumerKilled,
  databaseConnectionsKilled,
  databaseConnectionsKilledWhileWaiting,
  natsStopped,
  type Outcome,
  poison,
  type RunSize,
  relayKilled,
} from './scenarios.js';
export {
  type ConsumerOutcome,
  type ConsumerResult,
  consumerDatabaseDown,
  consumerReplicas,
  deadLetterStreamMissing,
  formatConsumerResult,
} from './scenarios-consumer.js';
export { bigRowAmongSmall, msgIdHeader, poisonInBatch } from './scenarios-content.js';
export {
  checkOrder,
  failsFirst,
  formatOrderResult,
  type OrderCheck,
  type OrderOutcome,
  type OrderResult,
  type OrderSize,
  subjectOrder,
} from './scenarios-order.js';
export { leaderKilledRepeatedly, quorumLost, startedWithoutMetaLeader, streamDeleted, streamFull } from './scenarios-outage.js';
export { replayToOneConsumer } from './scenarios-replay.js';
export { TcpProxy } from './tcp-proxy.js';
