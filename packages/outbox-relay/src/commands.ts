import { consoleSettings, consoleSwitchSetting } from './console/console-settings.js';
import { dlqCommandSpecs, dlqStreamSettings } from './dlq-commands.js';
import {
  afterSetting,
  allSetting,
  databaseSettings,
  jsonSetting,
  limitSetting,
  logSettings,
  natsSettings,
  onceSetting,
  relaySettings,
  type SettingSpec,
} from './settings.js';

/** The commands of `outbox-relay`; `dead` has subcommands. */
export type CommandName =
  | 'run'
  | 'migrate'
  | 'status'
  | 'console'
  | 'dead list'
  | 'dead show'
  | 'dead retry'
  | 'dead purge'
  | 'dlq list'
  | 'dlq show'
  | 'dlq replay'
  | 'dlq purge';

/** One command: what `--help` prints for it and which settings it reads. */
export interface CommandSpec {
  readonly name: CommandName;
  readonly usage: string;
  readonly summary: string;
  readonly settings: readonly SettingSpec[];
  /** How many positional arguments (event ids) it takes. */
  readonly positionals: 'none' | 'one' | 'many';
}

const common = [...databaseSettings, ...logSettings];

/** Every command, in the order `--help` lists them. */
export const commands: readonly CommandSpec[] = [
  {
    name: 'run',
    usage: 'outbox-relay [run] [--once] [options]',
    summary: 'Publish the outbox to NATS JetStream until SIGTERM/SIGINT (the default command). --once publishes the backlog and exits.',
    settings: [onceSetting, ...common, ...natsSettings, ...relaySettings, consoleSwitchSetting, ...consoleSettings, ...dlqStreamSettings],
    positionals: 'none',
  },
  {
    name: 'migrate',
    usage: 'outbox-relay migrate [options]',
    summary: "Apply the outbox table's migrations (safe to run from several processes).",
    settings: common,
    positionals: 'none',
  },
  {
    name: 'status',
    usage: 'outbox-relay status [--json] [options]',
    summary: 'Print the schema version, pending count, oldest pending age, dead count and the 10 subjects with the largest backlog.',
    settings: [jsonSetting, ...common],
    positionals: 'none',
  },
  {
    name: 'console',
    usage: 'outbox-relay console [--console-host H] [--console-port P] [options]',
    summary:
      "Serve the operator console (a web page: backlog, lag, publish rate, outbox dead events, the consumers' dead-letter stream) until SIGTERM/SIGINT, without publishing.",
    // The console reads the stream's state: the connection settings and the stream name only.
    settings: [
      ...common,
      ...natsSettings.filter((s) => s.key.startsWith('nats') || s.key === 'stream'),
      ...consoleSettings,
      ...dlqStreamSettings,
    ],
    positionals: 'none',
  },
  {
    name: 'dead list',
    usage: 'outbox-relay dead list [--limit N] [--after ID] [--json] [options]',
    summary: 'List dead-lettered events, oldest first.',
    settings: [jsonSetting, limitSetting, afterSetting, ...common],
    positionals: 'none',
  },
  {
    name: 'dead show',
    usage: 'outbox-relay dead show <id> [--json] [options]',
    summary: 'Print one dead event with its payload and last error.',
    settings: [jsonSetting, ...common],
    positionals: 'one',
  },
  {
    name: 'dead retry',
    usage: 'outbox-relay dead retry <id...> | --all [options]',
    summary:
      'Make dead events pending again with their attempts reset; a running relay publishes them, after the newer events of their subject already published (unless the relays run with --block-subject true).',
    settings: [allSetting, ...common],
    positionals: 'many',
  },
  {
    name: 'dead purge',
    usage: 'outbox-relay dead purge <id...> | --all [options]',
    summary: 'Delete dead events for good.',
    settings: [allSetting, ...common],
    positionals: 'many',
  },
  ...dlqCommandSpecs,
];

/** Finds a command by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return commands.find((command) => command.name === name);
}
