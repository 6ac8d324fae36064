import { redactUrl } from './redact.js';
import { fail, type SettingValues, streamName, subjectTokens } from './setting-values.js';
import { natsSettings, streamSettings } from './settings.js';

/** The NATS connection: servers, credentials, TLS (`run`, `console`, `dlq`). */
export interface NatsConnectionConfig {
  readonly servers: readonly string[];
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  readonly credsFile?: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/** The stream `run` publishes to and how it sets it up. */
export interface NatsStreamConfig {
  readonly stream: string;
  readonly subjectPrefix: string;
  /** The stream's partition count (`NatsPublisher`'s `partitions`); 0: none. */
  readonly partitions: number;
  readonly ensureStream: boolean;
  readonly duplicateWindowMs: number;
  /** `num_replicas` of a stream the relay creates. */
  readonly streamReplicas: number;
  /** `placement` of a stream the relay creates; `undefined` lets the server pick. */
  readonly streamPlacement?: { readonly cluster?: string; readonly tags?: readonly string[] };
  readonly publishTimeoutMs: number;
}

/** The relay's NATS connection and stream. */
export type NatsConfig = NatsConnectionConfig & NatsStreamConfig;

/**
 * Validates the NATS servers, credentials and TLS files.
 * @throws OutboxConfigError naming the setting (passwords redacted).
 */
export function readNatsConnection(values: SettingValues): NatsConnectionConfig {
  const s = natsSettings;
  const name = (setting: (typeof s)[keyof typeof s]): string => values.name(setting);
  const servers = values
    .required(s.url, 'set it to the NATS server URL, e.g. nats://127.0.0.1:4222')
    .split(',')
    .map((server) => server.trim())
    .filter(Boolean);
  for (const server of servers) {
    const withScheme = server.includes('://') ? server : `nats://${server}`;
    let ok = false;
    try {
      const parsed = new URL(withScheme);
      ok = ['nats:', 'tls:', 'ws:', 'wss:'].includes(parsed.protocol) && parsed.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) fail(name(s.url), `invalid ${name(s.url)}: expected nats://host:port; got ${JSON.stringify(redactUrl(server))}`);
  }
  if (servers.length === 0) fail(name(s.url), `invalid ${name(s.url)}: no server given`);
  const user = values.text(s.user);
  const password = values.text(s.password);
  const token = values.text(s.token);
  if ((user === undefined) !== (password === undefined)) {
    const missing = user === undefined ? s.user : s.password;
    fail(name(missing), `missing ${name(missing)}: NATS user and password go together`);
  }
  if (token !== undefined && user !== undefined) {
    fail(name(s.token), `invalid ${name(s.token)}: use a token or a user and password, not both`);
  }
  const caFile = values.readableFile(s.tlsCa);
  const certFile = values.readableFile(s.tlsCert);
  const keyFile = values.readableFile(s.tlsKey);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? s.tlsCert : s.tlsKey;
    fail(name(missing), `missing ${name(missing)}: a TLS client certificate and key go together`);
  }
  return {
    servers,
    user,
    password,
    token,
    credsFile: values.readableFile(s.creds),
    tls: caFile || certFile ? { caFile, certFile, keyFile } : undefined,
  };
}

/** The stream name (`--stream`): what `console` reads of the stream settings. */
export function readStreamName(values: SettingValues): string {
  return values.matching(streamSettings.name, streamName, "must be letters, digits, '_' or '-'") as string;
}

/** The stream `run` publishes to, its set-up and the publish timeout. */
export function readStream(values: SettingValues): NatsStreamConfig {
  const s = streamSettings;
  const subjectPrefix = values.matching(s.subjectPrefix, subjectTokens, "must be dot-separated tokens of letters, digits, '_' or '-'");
  return {
    stream: readStreamName(values),
    subjectPrefix: subjectPrefix as string,
    partitions: values.integer(s.partitions),
    ensureStream: values.boolean(s.ensure),
    duplicateWindowMs: values.integer(s.duplicateWindowMs),
    streamReplicas: values.integer(s.replicas),
    ...readPlacement(values),
    publishTimeoutMs: values.integer(s.publishTimeoutMs),
  };
}

/** A cluster name or server tag as JetStream matches it: no whitespace, comma or control character. */
const placementToken = /^[^\s,\p{Cc}]{1,255}$/u;

function readPlacement(values: SettingValues): Pick<NatsStreamConfig, 'streamPlacement'> {
  const { placementCluster, placementTags } = streamSettings;
  const cluster = values.text(placementCluster)?.trim() || undefined;
  if (cluster !== undefined && !placementToken.test(cluster)) {
    const name = values.name(placementCluster);
    fail(name, `invalid ${name}: a cluster name without spaces, commas or control characters; got ${JSON.stringify(cluster)}`);
  }
  const tags = (values.text(placementTags) ?? '')
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0);
  for (const tag of tags) {
    if (!placementToken.test(tag)) {
      const name = values.name(placementTags);
      fail(name, `invalid ${name}: comma-separated server tags without spaces or control characters; got ${JSON.stringify(tag)}`);
    }
  }
  if (cluster === undefined && tags.length === 0) return {};
  return { streamPlacement: { ...(cluster === undefined ? {} : { cluster }), ...(tags.length === 0 ? {} : { tags }) } };
}
