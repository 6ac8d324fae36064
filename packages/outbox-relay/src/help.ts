import { type CommandSpec, commands } from './commands.js';
import { rangeText, type SettingSpec } from './settings.js';

/** Exit codes of `outbox-relay`, as documented in the README and `--help`. */
export const ExitCode = {
  ok: 0,
  /** A runtime failure: a database or NATS error, a forced shutdown. */
  failure: 1,
  /** Invalid configuration: nothing was touched. */
  config: 2,
  /** The outbox schema is missing or of another version: run `outbox-relay migrate`. */
  schema: 3,
} as const;

const exitCodesText = `Exit codes: 0 ok, 1 runtime failure or forced shutdown, 2 bad configuration (nothing touched), 3 schema not migrated (run outbox-relay migrate).`;

function settingLine(setting: SettingSpec): string {
  const flag = setting.type === 'boolean' ? `--${setting.flag}` : `--${setting.flag} <value>`;
  const env = setting.env ? `env ${setting.env}` : 'no env var';
  const def = setting.defaultValue === undefined ? '' : `, default ${setting.defaultValue}`;
  const range = rangeText(setting);
  return `  ${flag}\n      ${setting.description} (${env}${def}${range ? `, ${range}` : ''})`;
}

/** The `--help` text of one command: usage, every flag with its env var and default, exit codes. */
export function commandHelp(command: CommandSpec): string {
  return [
    `Usage: ${command.usage}`,
    '',
    command.summary,
    '',
    'Options (flag > env var > default):',
    ...command.settings.map(settingLine),
    '  --help, -h\n      Show this help.',
    '',
    exitCodesText,
    '',
  ].join('\n');
}

/** The top-level `--help` text: the command list. */
export function generalHelp(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'Usage: outbox-relay <command> [options]',
    '',
    'The outboxkit relay: publishes a service outbox (PostgreSQL or MySQL) to NATS JetStream.',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run `outbox-relay <command> --help` for the options of a command, `outbox-relay --version` for the version.',
    exitCodesText,
    '',
  ].join('\n');
}
