import { type CommonConfig, type ConfigReader, noArguments, readCommon } from './cli-config.js';
import { type DatabaseConfig, readDatabase } from './database-config.js';
import { fail, type SettingValues } from './setting-values.js';
import { inboxSettings, invocationSettings } from './settings.js';

/** What both `inbox` commands read: the consumer's database and inbox table, and the consumer. */
interface InboxCommonConfig extends CommonConfig {
  /** The consumer's database; `table` is the inbox table (`--inbox-table`). */
  readonly database: DatabaseConfig;
  readonly consumer: string;
}

/** `outbox-relay inbox positions --consumer C [--subject S] [--limit N] [--json]`. */
export interface InboxPositionsConfig extends InboxCommonConfig {
  readonly command: 'inbox positions';
  readonly subject?: string;
  readonly limit: number;
  readonly json: boolean;
}

/** `outbox-relay inbox skip --consumer C --subject S --to N`. */
export interface InboxSkipConfig extends InboxCommonConfig {
  readonly command: 'inbox skip';
  readonly subject: string;
  readonly to: number;
}

/** The most sequences one `inbox skip` records. */
export const MAX_SKIP = 100_000;

/** Reads `inbox positions`'s settings. */
export function readInboxPositionsConfig(values: SettingValues, positionals: readonly string[]): InboxPositionsConfig {
  noArguments('inbox positions', positionals);
  const subject = readSubject(values, false);
  return {
    command: 'inbox positions',
    ...readInboxCommon(values),
    ...(subject === undefined ? {} : { subject }),
    limit: values.integer(inboxSettings.limit),
    json: values.boolean(invocationSettings.json),
  };
}

/** Reads `inbox skip`'s settings: the subject and how far to move it. */
export const readInboxSkipConfig: ConfigReader<InboxSkipConfig> = (values, positionals) => {
  noArguments('inbox skip', positionals);
  const subject = readSubject(values, true) as string;
  return { command: 'inbox skip', ...readInboxCommon(values), subject, to: values.integer(inboxSettings.to) };
};

function readInboxCommon(values: SettingValues): InboxCommonConfig {
  const consumer = values.required(inboxSettings.consumer, 'set it to the consumer (durable) name');
  if (consumer.trim() === '' || /[\r\n\0]/.test(consumer)) {
    fail(values.name(inboxSettings.consumer), `invalid ${values.name(inboxSettings.consumer)}: a non-empty name on one line`);
  }
  return { ...readCommon(values), database: readDatabase(values, inboxSettings.table), consumer };
}

function readSubject(values: SettingValues, required: boolean): string | undefined {
  const subject = required
    ? values.required(inboxSettings.subject, 'set it to the subject to move on')
    : values.text(inboxSettings.subject);
  if (subject !== undefined && (subject === '' || /[\r\n\0]/.test(subject))) {
    fail(values.name(inboxSettings.subject), `invalid ${values.name(inboxSettings.subject)}: a non-empty subject on one line`);
  }
  return subject;
}
