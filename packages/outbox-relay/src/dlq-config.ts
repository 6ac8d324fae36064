import { type CommonConfig, type ConfigReader, noArguments, readCommon } from './cli-config.js';
import { type NatsConnectionConfig, readNatsConnection } from './nats-config.js';
import { fail, type SettingValues, streamName, subjectTokens } from './setting-values.js';
import { dlqSettings, invocationSettings } from './settings.js';

/** What every `dlq` command reads: NATS only, no database. */
interface DlqCommonConfig extends CommonConfig {
  readonly nats: NatsConnectionConfig;
  /** The dead-letter stream and its subject prefix. */
  readonly stream: string;
  readonly subjectPrefix: string;
}

/** The filters of bus-nats's `DeadLetterQuery`: every one given must match. */
export interface DlqFilters {
  readonly consumer?: string;
  readonly type?: string;
  readonly subject?: string;
  readonly code?: string;
}

/** `outbox-relay dlq list [filters] [--limit N] [--json]`. */
export interface DlqListConfig extends DlqCommonConfig, DlqFilters {
  readonly command: 'dlq list';
  readonly limit: number;
  readonly json: boolean;
}

/** `outbox-relay dlq show <sequence> [--json]`. */
export interface DlqShowConfig extends DlqCommonConfig {
  readonly command: 'dlq show';
  readonly json: boolean;
  /** The one dead-letter stream sequence given. */
  readonly sequences: readonly [number];
}

/** `outbox-relay dlq replay | purge <sequence...> | --all [filters] [--limit N]`. */
export interface DlqChangeConfig extends DlqCommonConfig, DlqFilters {
  readonly command: 'dlq replay' | 'dlq purge';
  readonly limit: number;
  /** Every letter the filters match; `sequences` is empty then. */
  readonly all: boolean;
  readonly sequences: readonly number[];
}

export type DlqConfig = DlqListConfig | DlqShowConfig | DlqChangeConfig;

/** Reads `dlq list`'s settings: the filters and `--limit`. */
export function readDlqListConfig(values: SettingValues, positionals: readonly string[]): DlqListConfig {
  noArguments('dlq list', positionals);
  return {
    command: 'dlq list',
    ...readDlqCommon(values),
    ...readFilters(values),
    limit: values.integer(dlqSettings.listLimit),
    json: values.boolean(invocationSettings.json),
  };
}

/** Reads `dlq show`'s settings and its one sequence. */
export function readDlqShowConfig(values: SettingValues, positionals: readonly string[]): DlqShowConfig {
  if (positionals.length !== 1) fail('arguments', 'dlq show: expects exactly one dead-letter sequence');
  const [sequence] = sequencesOf('dlq show', positionals) as [number];
  return { command: 'dlq show', ...readDlqCommon(values), json: values.boolean(invocationSettings.json), sequences: [sequence] };
}

/** The reader of `dlq replay` or `dlq purge`: sequences, or `--all` (every letter the filters match), never both. */
export function readDlqChangeConfig(command: DlqChangeConfig['command']): ConfigReader<DlqChangeConfig> {
  return (values, positionals) => {
    const all = values.boolean(invocationSettings.all);
    if (positionals.length > 0 === all) {
      fail('arguments', `${command}: give dead-letter sequences or --all (not both); --all acts on every letter the filters match`);
    }
    const sequences = sequencesOf(command, positionals);
    return {
      command,
      ...readDlqCommon(values),
      ...readFilters(values),
      limit: values.integer(dlqSettings.changeLimit),
      all,
      sequences,
    };
  };
}

function sequencesOf(command: DlqConfig['command'], positionals: readonly string[]): number[] {
  return positionals.map((text) => {
    const value = /^\d{1,15}$/.test(text) ? Number(text) : 0;
    if (value < 1)
      fail('arguments', `${command}: ${JSON.stringify(text)} is not a dead-letter sequence (a positive integer, see dlq list)`);
    return value;
  });
}

function readDlqCommon(values: SettingValues): DlqCommonConfig {
  const common = readCommon(values);
  const nats = readNatsConnection(values);
  return {
    ...common,
    nats,
    stream: values.matching(dlqSettings.stream, streamName, "must be letters, digits, '_' or '-'") as string,
    subjectPrefix: values.matching(
      dlqSettings.prefix,
      subjectTokens,
      "must be dot-separated tokens of letters, digits, '_' or '-'",
    ) as string,
  };
}

function readFilters(values: SettingValues): DlqFilters {
  const consumer = values.matching(dlqSettings.consumer, streamName, "must be a consumer name: letters, digits, '_' or '-'");
  const type = readFilter(values, dlqSettings.type);
  const subject = readFilter(values, dlqSettings.subject);
  const code = readFilter(values, dlqSettings.code);
  return {
    ...(consumer === undefined ? {} : { consumer }),
    ...(type === undefined ? {} : { type }),
    ...(subject === undefined ? {} : { subject }),
    ...(code === undefined ? {} : { code }),
  };
}

/** A filter compared with a header value: one line of printable text. */
function readFilter(values: SettingValues, setting: (typeof dlqSettings)['type' | 'subject' | 'code']): string | undefined {
  const value = values.text(setting);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (value !== undefined && (value === '' || value.length > 1_000 || /[\u0000-\u001f\u007f]/.test(value))) {
    const name = values.name(setting);
    fail(name, `invalid ${name}: must be 1 to 1000 characters without control characters; got ${JSON.stringify(value)}`);
  }
  return value;
}
