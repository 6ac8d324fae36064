import { type CommonConfig, type ConfigReader, noArguments, readCommon } from './cli-config.js';
import { type DatabaseConfig, readDatabase } from './database-config.js';
import { fail, type SettingValues } from './setting-values.js';
import { invocationSettings, relaySettings } from './settings.js';

/** `outbox-relay migrate`. */
export interface MigrateConfig extends CommonConfig {
  readonly command: 'migrate';
  readonly database: DatabaseConfig;
}

/** `outbox-relay status [--json]`. */
export interface StatusConfig extends CommonConfig {
  readonly command: 'status';
  readonly database: DatabaseConfig;
  readonly json: boolean;
}

/** `outbox-relay dead list [--limit N] [--after ID] [--json]`. */
export interface DeadListConfig extends CommonConfig {
  readonly command: 'dead list';
  readonly database: DatabaseConfig;
  readonly json: boolean;
  readonly limit: number;
  readonly after?: string;
}

/** `outbox-relay dead show <id> [--json]`. */
export interface DeadShowConfig extends CommonConfig {
  readonly command: 'dead show';
  readonly database: DatabaseConfig;
  readonly json: boolean;
  /** The one event id given. */
  readonly ids: readonly [string];
}

/** `outbox-relay dead retry | purge <id...> | --all`. */
export interface DeadChangeConfig extends CommonConfig {
  readonly command: 'dead retry' | 'dead purge';
  readonly database: DatabaseConfig;
  /** Every dead event; `ids` is empty then. */
  readonly all: boolean;
  readonly ids: readonly string[];
  /**
   * `dead retry`: the relays run with `--block-subject true`, so a retried event keeps its place
   * (its subject's later events were held back behind it) instead of going to the end of its subject.
   */
  readonly blockSubject: boolean;
}

/** Reads `migrate`'s settings: the database and the log level. */
export function readMigrateConfig(values: SettingValues, positionals: readonly string[]): MigrateConfig {
  noArguments('migrate', positionals);
  return { command: 'migrate', ...readCommon(values), database: readDatabase(values) };
}

/** Reads `status`'s settings. */
export function readStatusConfig(values: SettingValues, positionals: readonly string[]): StatusConfig {
  noArguments('status', positionals);
  return { command: 'status', ...readCommon(values), database: readDatabase(values), json: values.boolean(invocationSettings.json) };
}

/** Reads `dead list`'s settings: its page (`--limit`, `--after`). */
export function readDeadListConfig(values: SettingValues, positionals: readonly string[]): DeadListConfig {
  noArguments('dead list', positionals);
  const after = values.text(invocationSettings.after);
  return {
    command: 'dead list',
    ...readCommon(values),
    database: readDatabase(values),
    json: values.boolean(invocationSettings.json),
    limit: values.integer(invocationSettings.limit),
    ...(after === undefined ? {} : { after }),
  };
}

/** Reads `dead show`'s settings and its one event id. */
export function readDeadShowConfig(values: SettingValues, positionals: readonly string[]): DeadShowConfig {
  const [id, ...others] = positionals;
  if (id === undefined || others.length > 0) fail('arguments', 'dead show: expects exactly one event id');
  return {
    command: 'dead show',
    ...readCommon(values),
    database: readDatabase(values),
    json: values.boolean(invocationSettings.json),
    ids: [id],
  };
}

/** The reader of `dead retry` or `dead purge`: event ids, or `--all`, never both. */
export function readDeadChangeConfig(command: DeadChangeConfig['command']): ConfigReader<DeadChangeConfig> {
  return (values, positionals) => {
    const all = values.boolean(invocationSettings.all);
    if (positionals.length > 0 === all) fail('arguments', `${command}: give event ids or --all (not both)`);
    const blockSubject = command === 'dead retry' && values.boolean(relaySettings.blockSubject);
    return { command, ...readCommon(values), database: readDatabase(values), all, ids: positionals, blockSubject };
  };
}
