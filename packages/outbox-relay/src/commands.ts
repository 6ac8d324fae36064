import { readDeadChangeConfig, readDeadListConfig, readDeadShowConfig, readMigrateConfig, readStatusConfig } from './admin-config.js';
import type { CliConfig, CommandName, ConfigReader } from './cli-config.js';
import { readConsoleCommandConfig } from './console/console-settings.js';
import { readDlqChangeConfig, readDlqListConfig, readDlqShowConfig } from './dlq-config.js';
import { readInboxPositionsConfig, readInboxSkipConfig } from './inbox-config.js';
import { readPartitionsConfig } from './partitions-config.js';
import { readRunConfig } from './run-config.js';
import {
  consoleSettings,
  databaseSettings,
  dlqSettings,
  inboxSettings,
  invocationSettings,
  logLevelSetting,
  natsSettings,
  partitionSettings,
  relaySettings,
  type SettingSpec,
  streamSettings,
} from './settings.js';

/** One command: what `--help` prints for it, the settings it reads (and only those) and how. */
export interface CommandSpec {
  readonly name: CommandName;
  readonly usage: string;
  readonly summary: string;
  readonly settings: readonly SettingSpec[];
  /** Validates the command's settings and arguments into its configuration. */
  readonly read: ConfigReader<CliConfig>;
}

const { json, once, limit, after, all } = invocationSettings;
const database = [...Object.values(databaseSettings), logLevelSetting];
const nats = Object.values(natsSettings);
const { consumer, type, subject, code, listLimit, changeLimit } = dlqSettings;
const dlqStream = [dlqSettings.stream, dlqSettings.prefix];
const dlqCommon = [...dlqStream, ...nats, logLevelSetting];
// The consumer's database: the connection settings with `--inbox-table` in place of `--table`.
const { table: _outboxTable, ...consumerDatabase } = databaseSettings;
const inboxCommon = [inboxSettings.consumer, ...Object.values(consumerDatabase), inboxSettings.table, logLevelSetting];

/** Every command, in the order `--help` lists them. */
export const commands: readonly CommandSpec[] = [
  {
    name: 'run',
    usage: 'outbox-relay [run] [--once] [options]',
    summary: 'Publish the outbox to NATS JetStream until SIGTERM/SIGINT (the default command). --once publishes the backlog and exits.',
    settings: [
      once,
      ...database,
      ...nats,
      ...Object.values(streamSettings),
      ...Object.values(relaySettings),
      ...Object.values(consoleSettings),
      ...dlqStream,
    ],
    read: readRunConfig,
  },
  {
    name: 'migrate',
    usage: 'outbox-relay migrate [options]',
    summary: "Apply the outbox table's migrations (safe to run from several processes).",
    settings: database,
    read: readMigrateConfig,
  },
  {
    name: 'status',
    usage: 'outbox-relay status [--json] [options]',
    summary: 'Print the schema version, pending count, oldest pending age, dead count and the 10 subjects with the largest backlog.',
    settings: [json, ...database],
    read: readStatusConfig,
  },
  {
    name: 'console',
    usage: 'outbox-relay console [--console-host H] [--console-port P] [options]',
    summary:
      "Serve the operator console (a web page: backlog, lag, publish rate, outbox dead events, the consumers' dead-letter stream) until SIGTERM/SIGINT, without publishing.",
    // The console reads the stream's state: the connection settings and the stream name only.
    settings: [
      ...database,
      ...nats,
      streamSettings.name,
      consoleSettings.host,
      consoleSettings.port,
      consoleSettings.token,
      ...dlqStream,
      relaySettings.blockSubject,
    ],
    read: readConsoleCommandConfig,
  },
  {
    name: 'dead list',
    usage: 'outbox-relay dead list [--limit N] [--after ID] [--json] [options]',
    summary: 'List dead-lettered events, oldest first.',
    settings: [json, limit, after, ...database],
    read: readDeadListConfig,
  },
  {
    name: 'dead show',
    usage: 'outbox-relay dead show <id> [--json] [options]',
    summary: 'Print one dead event with its payload and last error.',
    settings: [json, ...database],
    read: readDeadShowConfig,
  },
  {
    name: 'dead retry',
    usage: 'outbox-relay dead retry <id...> | --all [options]',
    summary:
      'Make dead events pending again with their attempts reset; a running relay publishes them, after the newer events of their subject already published (unless the relays run with --block-subject true: give it here too, and the event keeps its place).',
    settings: [all, relaySettings.blockSubject, ...database],
    read: readDeadChangeConfig('dead retry'),
  },
  {
    name: 'dead purge',
    usage: 'outbox-relay dead purge <id...> | --all [options]',
    summary: 'Delete dead events for good.',
    settings: [all, ...database],
    read: readDeadChangeConfig('dead purge'),
  },
  {
    name: 'dlq list',
    usage: 'outbox-relay dlq list [--consumer NAME] [--type T] [--subject S] [--code C] [--limit N] [--json] [options]',
    summary: "List the consumers' dead letters (NATS), oldest first, with their sequence, consumer, reason and error.",
    settings: [json, consumer, type, subject, code, listLimit, ...dlqCommon],
    read: readDlqListConfig,
  },
  {
    name: 'dlq show',
    usage: 'outbox-relay dlq show <sequence> [--json] [options]',
    summary: 'Print one dead letter with its headers and data.',
    settings: [json, ...dlqCommon],
    read: readDlqShowConfig,
  },
  {
    name: 'dlq replay',
    usage: 'outbox-relay dlq replay <sequence...> | --all [--consumer NAME] [--type T] [--subject S] [--code C] [options]',
    summary:
      'Republish dead letters to the one consumer that dead-lettered each, then delete them; a replay is stored after newer events of its subject. Replaying twice applies once.',
    settings: [all, consumer, type, subject, code, changeLimit, ...dlqCommon],
    read: readDlqChangeConfig('dlq replay'),
  },
  {
    name: 'dlq purge',
    usage: 'outbox-relay dlq purge <sequence...> | --all [--consumer NAME] [--type T] [--subject S] [--code C] [options]',
    summary: 'Delete dead letters for good.',
    settings: [all, consumer, type, subject, code, changeLimit, ...dlqCommon],
    read: readDlqChangeConfig('dlq purge'),
  },
  {
    name: 'inbox positions',
    usage: 'outbox-relay inbox positions --consumer NAME [--subject S] [--limit N] [--json] [options]',
    summary:
      "Print a consumer's per-subject positions (the last sequence applied or skipped) and the gaps recorded beyond them: where a subject waits, and for which sequence.",
    settings: [json, inboxSettings.subject, inboxSettings.limit, ...inboxCommon],
    read: readInboxPositionsConfig,
  },
  {
    name: 'inbox skip',
    usage: 'outbox-relay inbox skip --consumer NAME --subject S --to N [options]',
    summary:
      "Record the sequences after a subject's position, up to N, as skipped by the operator (events lost to a stream purge or expiry), so the subject's next event runs. The skips stay listed.",
    settings: [inboxSettings.subject, inboxSettings.to, ...inboxCommon],
    read: readInboxSkipConfig,
  },
  {
    name: 'partitions',
    usage: 'outbox-relay partitions --consumer NAME [--stream S] [--json] [options]',
    summary:
      'Print which instance of a partitioned consumer (bus-nats PartitionedSubscriber) owns which partition, from its lease bucket: the instances that renewed within the lease, each with its partitions.',
    settings: [json, partitionSettings.consumer, streamSettings.name, ...nats, logLevelSetting],
    read: readPartitionsConfig,
  },
];

/** Finds a command by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return commands.find((command) => command.name === name);
}
