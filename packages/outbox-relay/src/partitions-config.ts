import { type CommonConfig, noArguments, readCommon } from './cli-config.js';
import { type NatsConnectionConfig, readNatsConnection, readStreamName } from './nats-config.js';
import { fail, type SettingValues } from './setting-values.js';
import { invocationSettings, partitionSettings } from './settings.js';

/** `outbox-relay partitions --consumer C [--stream S] [--json]`: who owns which partition. */
export interface PartitionsConfig extends CommonConfig {
  readonly command: 'partitions';
  readonly nats: NatsConnectionConfig;
  readonly stream: string;
  readonly consumer: string;
  readonly json: boolean;
}

/** Reads `partitions`'s settings: NATS, the stream and the consumer. */
export function readPartitionsConfig(values: SettingValues, positionals: readonly string[]): PartitionsConfig {
  noArguments('partitions', positionals);
  const setting = partitionSettings.consumer;
  const consumer = values.required(setting, 'set it to the partitioned consumer name');
  // The lease bucket is named after it: the characters a KV bucket name takes.
  if (!/^[\w-]{1,128}$/.test(consumer)) {
    fail(values.name(setting), `invalid ${values.name(setting)}: letters, digits, '_' or '-'; got ${JSON.stringify(consumer)}`);
  }
  return {
    command: 'partitions',
    ...readCommon(values),
    nats: readNatsConnection(values),
    stream: readStreamName(values),
    consumer,
    json: values.boolean(invocationSettings.json),
  };
}
