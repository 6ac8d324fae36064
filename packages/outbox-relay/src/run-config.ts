import { type CommonConfig, noArguments, readCommon } from './cli-config.js';
import { type ConsoleConfig, readConsole } from './console/console-settings.js';
import { type DatabaseConfig, readDatabase } from './database-config.js';
import { type NatsConfig, readNatsConnection, readStream } from './nats-config.js';
import { fail, type SettingValues } from './setting-values.js';
import { consoleSettings, invocationSettings, relaySettings, streamSettings } from './settings.js';

/** `outbox-relay run [--once]`: everything the relay needs to publish. */
export interface RunConfig extends CommonConfig {
  readonly command: 'run';
  readonly database: DatabaseConfig;
  readonly nats: NatsConfig;
  readonly batchSize: number;
  /** The byte budget of one claim. */
  readonly maxBatchBytes: number;
  /** The stores' `maxEventBytes`. */
  readonly maxEventBytes: number;
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  /** Claim the next batch while one is published (`--claim-ahead`). */
  readonly claimAhead: boolean;
  /** A dead row holds back the later rows of its subject (`--block-subject`). */
  readonly blockSubject: boolean;
  /** `undefined` when `OUTBOX_METRICS_ADDR=off`. */
  readonly http?: { readonly host: string; readonly port: number };
  readonly statsIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  readonly once: boolean;
  /** `run --console`: the operator console served next to the relay. */
  readonly console?: ConsoleConfig;
}

/**
 * Publishes the relay keeps in flight at once (the `maxInFlight` it gives `NatsPublisher`): a batch
 * is sent in ceil(batchSize / PUBLISH_WINDOW) waves, each of which can wait `publishTimeoutMs`.
 */
export const PUBLISH_WINDOW = 256;
/** Time the lease must leave after the last wave's timeout for the claim and settle statements. */
export const LEASE_SETTLE_MARGIN_MS = 1_000;

/**
 * The lease a batch needs: every wave of publishes may wait out `publishTimeoutMs`, and settling
 * takes a little more. A shorter lease can expire while its batch is still being published; another
 * relay then publishes the same events again (the stream drops the copies only within its window).
 * With `claimAhead` a batch is claimed while the one before it is published: its lease covers both.
 */
export function requiredLeaseMs(publishTimeoutMs: number, batchSize: number, claimAhead = false): number {
  return publishTimeoutMs * Math.ceil(batchSize / PUBLISH_WINDOW) * (claimAhead ? 2 : 1) + LEASE_SETTLE_MARGIN_MS;
}

/** Reads and cross-checks `run`'s settings. */
export function readRunConfig(values: SettingValues, positionals: readonly string[]): RunConfig {
  noArguments('run', positionals);
  const common = readCommon(values);
  const database = readDatabase(values);
  const nats = { ...readNatsConnection(values), ...readStream(values) };
  const once = values.boolean(invocationSettings.once);
  const withConsole = values.boolean(consoleSettings.enabled);
  if (withConsole && once) {
    const name = values.name(consoleSettings.enabled);
    fail(name, `invalid ${name}: the console needs a long-running relay; drop --once`);
  }
  const operatorConsole = withConsole ? readConsole(values) : undefined;
  const batchSize = values.integer(relaySettings.batchSize);
  const leaseMs = values.integer(relaySettings.leaseMs);
  const claimAhead = readClaimAhead(values, database.driver, requiredLeaseMs(nats.publishTimeoutMs, batchSize, true) <= leaseMs);
  checkLease(values, leaseMs, batchSize, nats.publishTimeoutMs, claimAhead);
  return {
    command: 'run',
    ...common,
    database,
    nats,
    batchSize,
    maxBatchBytes: values.integer(relaySettings.maxBatchBytes),
    maxEventBytes: values.integer(relaySettings.maxEventBytes),
    pollIntervalMs: values.integer(relaySettings.pollIntervalMs),
    leaseMs,
    maxAttempts: values.integer(relaySettings.maxAttempts),
    claimAhead,
    blockSubject: values.boolean(relaySettings.blockSubject),
    http: readHttpAddress(values),
    statsIntervalMs: values.integer(relaySettings.statsIntervalMs),
    shutdownTimeoutMs: values.integer(relaySettings.shutdownTimeoutMs),
    once,
    ...(operatorConsole ? { console: operatorConsole } : {}),
  };
}

/**
 * `--claim-ahead`: true or false as given; `auto` (the default) is the store's default
 * (MysqlOutboxStore claims ahead, PgOutboxStore does not) where the lease covers two batches, and
 * false where it covers one only, so a lease that suited the relay before the option still does.
 */
function readClaimAhead(values: SettingValues, driver: 'pg' | 'mysql', leaseCoversTwo: boolean): boolean {
  const text = values.text(relaySettings.claimAhead);
  if (text?.toLowerCase() === 'auto') return driver === 'mysql' && leaseCoversTwo;
  if (text !== undefined && !isSwitch(text)) {
    const name = values.name(relaySettings.claimAhead);
    fail(name, `invalid ${name}: must be auto, true or false; got ${JSON.stringify(text)}`);
  }
  return values.boolean(relaySettings.claimAhead);
}

const isSwitch = (text: string): boolean => ['true', '1', 'yes', 'on', 'false', '0', 'no', 'off'].includes(text.toLowerCase());

function checkLease(values: SettingValues, leaseMs: number, batchSize: number, publishTimeoutMs: number, claimAhead: boolean): void {
  const needed = requiredLeaseMs(publishTimeoutMs, batchSize, claimAhead);
  if (leaseMs >= needed) return;
  const waves = Math.ceil(batchSize / PUBLISH_WINDOW);
  const lease = values.name(relaySettings.leaseMs);
  const timeout = values.name(streamSettings.publishTimeoutMs);
  const size = values.name(relaySettings.batchSize);
  const ahead = values.name(relaySettings.claimAhead);
  fail(
    lease,
    `invalid ${lease}: ${leaseMs} ms does not cover ${claimAhead ? `two batches (${ahead})` : 'a batch'}: ${timeout} (${publishTimeoutMs} ms) x ` +
      `${waves} wave${waves === 1 ? '' : 's'} of ${PUBLISH_WINDOW} publishes (${size} ${batchSize})${claimAhead ? ' x 2' : ''} + ${LEASE_SETTLE_MARGIN_MS} ms = ${needed} ms; ` +
      `raise ${lease} to at least ${needed}, or lower ${timeout} or ${size}${claimAhead ? `, or drop ${ahead}` : ''}`,
  );
}

function readHttpAddress(values: SettingValues): { host: string; port: number } | undefined {
  const text = values.required(relaySettings.metricsAddr, 'set it to host:port or off').trim();
  if (text.toLowerCase() === 'off') return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65_535) {
    const name = values.name(relaySettings.metricsAddr);
    fail(name, `invalid ${name}: expected host:port, :port or off; got ${JSON.stringify(text)}`);
  }
  return { host: match[1] || match[2] || '0.0.0.0', port };
}
