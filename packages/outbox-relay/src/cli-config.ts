import type { DeadChangeConfig, DeadListConfig, DeadShowConfig, MigrateConfig, StatusConfig } from './admin-config.js';
import type { ConsoleCommandConfig } from './console/console-settings.js';
import type { DlqChangeConfig, DlqListConfig, DlqShowConfig } from './dlq-config.js';
import type { InboxPositionsConfig, InboxSkipConfig } from './inbox-config.js';
import type { PartitionsConfig } from './partitions-config.js';
import type { RunConfig } from './run-config.js';
import { fail, type SettingValues } from './setting-values.js';
import { logLevelSetting } from './settings.js';

/**
 * A validated invocation of `outbox-relay`: one variant per command, each with only the settings
 * that command reads. `command` tells them apart.
 */
export type CliConfig =
  | RunConfig
  | MigrateConfig
  | StatusConfig
  | ConsoleCommandConfig
  | DeadListConfig
  | DeadShowConfig
  | DeadChangeConfig
  | DlqListConfig
  | DlqShowConfig
  | DlqChangeConfig
  | InboxPositionsConfig
  | InboxSkipConfig
  | PartitionsConfig;

/** Validates a command's settings and positional arguments into its configuration. */
export type ConfigReader<T extends CliConfig> = (values: SettingValues, positionals: readonly string[]) => T;

/** The commands of `outbox-relay`; `dead` and `dlq` have subcommands. */
export type CommandName = CliConfig['command'];

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const logLevels: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** What every command's configuration has. */
export interface CommonConfig {
  readonly logLevel: LogLevel;
  /** Every secret in the configuration, to scrub from logs and errors. */
  readonly secrets: readonly string[];
}

/** The log level and the secrets of the command's settings. */
export function readCommon(values: SettingValues): CommonConfig {
  const text = values.required(logLevelSetting, 'set it to info');
  const logLevel = text.toLowerCase() as LogLevel;
  if (!logLevels.includes(logLevel)) {
    const name = values.name(logLevelSetting);
    fail(name, `invalid ${name}: expected one of ${logLevels.join(', ')}; got ${JSON.stringify(text)}`);
  }
  return { logLevel, secrets: values.secrets() };
}

/** Refuses positional arguments for a command that takes none. */
export function noArguments(command: CommandName, positionals: readonly string[]): void {
  if (positionals.length > 0) {
    fail('arguments', `${command}: unexpected argument ${JSON.stringify(positionals[0])} (see outbox-relay ${command} --help)`);
  }
}
