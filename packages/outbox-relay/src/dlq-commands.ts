import type { CommandSpec } from './commands.js';
import { allSetting, jsonSetting, logSettings, natsSettings, type SettingSpec } from './settings.js';

const spec = (s: SettingSpec): SettingSpec => s;

/** The NATS connection settings (servers, credentials, TLS): the `dlq` commands need no stream of the relay's. */
const natsConnectionSettings = natsSettings.filter((setting) => setting.key.startsWith('nats'));

/** Where the consumers' dead letters are: the stream and subject prefix of bus-nats's `ensureDeadLetterStream`. */
export const dlqStreamSettings: readonly SettingSpec[] = [
  spec({
    key: 'dlqStream',
    flag: 'dlq-stream',
    env: 'OUTBOX_DLQ_STREAM',
    type: 'string',
    defaultValue: 'DEAD_LETTERS',
    description: "The consumers' dead-letter stream.",
  }),
  spec({
    key: 'dlqPrefix',
    flag: 'dlq-prefix',
    env: 'OUTBOX_DLQ_PREFIX',
    type: 'string',
    defaultValue: 'dlq',
    description: 'First subject token of dead letters: <prefix>.<consumer>.<original subject>.',
  }),
];

/** The filters of bus-nats's `DeadLetterQuery`: every one given must match. */
export const dlqFilterSettings: readonly SettingSpec[] = [
  spec({ key: 'consumer', flag: 'consumer', type: 'string', description: 'Only the dead letters of this durable consumer.' }),
  spec({ key: 'eventType', flag: 'type', type: 'string', description: 'Only events of this type (ce-type).' }),
  spec({
    key: 'eventSubject',
    flag: 'subject',
    type: 'string',
    description: 'Only events of this subject, the aggregate key (ce-subject).',
  }),
  spec({
    key: 'code',
    flag: 'code',
    type: 'string',
    description: 'Only letters with this reason code, e.g. HANDLER_FAILED, FORGED_SUBJECT.',
  }),
  spec({
    key: 'limit',
    flag: 'limit',
    type: 'string',
    description: 'Most letters acted on, oldest first (list: default 100; replay and purge: every match, up to 100000).',
  }),
];

const common = [...dlqStreamSettings, ...natsConnectionSettings, ...logSettings];

/** `outbox-relay dlq list | show | replay | purge`: the consumers' dead-letter stream on NATS (no database). */
export const dlqCommandSpecs: readonly CommandSpec[] = [
  {
    name: 'dlq list',
    usage: 'outbox-relay dlq list [--consumer NAME] [--type T] [--subject S] [--code C] [--limit N] [--json] [options]',
    summary: "List the consumers' dead letters (NATS), oldest first, with their sequence, consumer, reason and error.",
    settings: [jsonSetting, ...dlqFilterSettings, ...common],
    positionals: 'none',
  },
  {
    name: 'dlq show',
    usage: 'outbox-relay dlq show <sequence> [--json] [options]',
    summary: 'Print one dead letter with its headers and data.',
    settings: [jsonSetting, ...common],
    positionals: 'one',
  },
  {
    name: 'dlq replay',
    usage: 'outbox-relay dlq replay <sequence...> | --all [--consumer NAME] [--type T] [--subject S] [--code C] [options]',
    summary:
      'Republish dead letters to the one consumer that dead-lettered each, then delete them; a replay is stored after newer events of its subject. Replaying twice applies once.',
    settings: [allSetting, ...dlqFilterSettings, ...common],
    positionals: 'many',
  },
  {
    name: 'dlq purge',
    usage: 'outbox-relay dlq purge <sequence...> | --all [--consumer NAME] [--type T] [--subject S] [--code C] [options]',
    summary: 'Delete dead letters for good.',
    settings: [allSetting, ...dlqFilterSettings, ...common],
    positionals: 'many',
  },
];
