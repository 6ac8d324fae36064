import type { StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { checkHorizons, errorMessage, formatMs, validateInteger } from '@outboxkit/outbox-core/driver';
import { msToNanos, nanosToMs } from './durations.js';
import { type JetStreamManagerSource, toManager } from './manager.js';

/** The relay's re-publish horizon: a lease plus the longest retry delay, or their sum in ms. */
export type RequiredDuplicateWindow = number | { readonly leaseMs: number; readonly maxRetryDelayMs?: number };

/** Options of {@link ensureStream}. Settings left out are not changed on an existing stream. */
export interface EnsureStreamOptions {
  /** The stream name: no spaces, `.`, `*`, `>`, `/` or `\`. */
  readonly name: string;
  /** Subjects the stream stores, wildcards allowed (`events.>`). Missing ones are added to an existing stream. */
  readonly subjects: readonly string[];
  /** JetStream `duplicate_window`: how long a `Nats-Msg-Id` is remembered. @defaultValue 120_000 on create */
  readonly duplicateWindowMs?: number;
  /** @defaultValue `'file'` on create; cannot change on an existing stream */
  readonly storage?: 'file' | 'memory';
  /** `num_replicas`, 1 to 5; R3 survives one server. @defaultValue 1 on create */
  readonly replicas?: number;
  /** `max_age`; 0 keeps messages until other limits apply. @defaultValue 0 on create */
  readonly maxAgeMs?: number;
  /**
   * Where a clustered JetStream puts the stream's replicas: a cluster name and/or server tags
   * (`server_tags` in the servers' configuration), all of which a server must have. Applied on
   * create only: an existing stream stays where it is. A single server ignores it.
   * @defaultValue none (the server picks)
   */
  readonly placement?: StreamPlacementOptions;
  /**
   * The relay's re-publish horizon (`leaseMs` + its longest retry delay). A stream whose
   * `duplicate_window` is shorter could store a re-published event twice: that throws.
   */
  readonly requiredDuplicateWindowMs?: RequiredDuplicateWindow;
}

/** `placement` of a stream: the cluster, and tags every replica's server must carry. */
export interface StreamPlacementOptions {
  readonly cluster?: string;
  readonly tags?: readonly string[];
}

/** What {@link ensureStream} found and did. */
export interface EnsureStreamResult {
  readonly info: StreamInfo;
  readonly action: 'created' | 'updated' | 'unchanged';
  /** The JetStream settings it changed on an existing stream, e.g. `['subjects', 'max_age']`. */
  readonly changed: readonly string[];
}

/** Default `duplicate_window`: the server's own default, and above the relay's default horizon. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

const streamNamePattern = /^[^\s.*>/\\]+$/;
const filterSubjectPattern = /^(?:[^\s.*>]+|\*)(?:\.(?:[^\s.*>]+|\*))*(?:\.>)?$|^>$/;

/**
 * Creates the stream, or checks and updates an existing one: idempotent, so every service and
 * relay may call it at start. On an existing stream it changes only the settings passed (and
 * adds missing subjects), then checks the dedup window against the relay's horizon.
 *
 * @throws OutboxConfigError for an invalid option, a storage type that differs from the stream's,
 * a change the server refuses (`setting` names it), or a `duplicate_window` shorter than
 * `requiredDuplicateWindowMs` (setting `duplicate_window`, with the value to raise it to).
 * @example
 * ```ts
 * await ensureStream(nc, { name: 'EVENTS', subjects: ['events.>'], replicas: 3, requiredDuplicateWindowMs: { leaseMs: 30_000, maxRetryDelayMs: 60_000 } });
 * ```
 */
export async function ensureStream(source: JetStreamManagerSource, options: EnsureStreamOptions): Promise<EnsureStreamResult> {
  const { name, subjects } = validateStreamOptions(options);
  if (options.duplicateWindowMs !== undefined) checkDuplicateWindow(options.duplicateWindowMs, options.requiredDuplicateWindowMs);
  const jsm = await toManager(source);
  const existing = await streamInfoOrNull(jsm, name);
  if (existing === null) {
    const config: Partial<StreamConfig> & { name: string } = {
      name,
      subjects: [...subjects],
      storage: options.storage ?? 'file',
      num_replicas: options.replicas ?? 1,
      duplicate_window: msToNanos(options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
      max_age: msToNanos(options.maxAgeMs ?? 0),
    };
    const placement = placementConfig(options.placement);
    if (placement) config.placement = placement;
    const info = await refused('stream', name, () => jsm.streams.add(config));
    checkDuplicateWindow(nanosToMs(info.config.duplicate_window), options.requiredDuplicateWindowMs);
    return { info, action: 'created', changed: [] };
  }
  const current = existing.config;
  if (options.storage !== undefined && options.storage !== current.storage) {
    throw new OutboxConfigError(
      'storage',
      `stream ${name} uses ${current.storage} storage but ${options.storage} was asked for: JetStream cannot change storage; create a new stream or drop the storage option`,
    );
  }
  const changes: Partial<StreamConfig> = {};
  const missing = subjects.filter((subject) => !current.subjects.includes(subject));
  if (missing.length > 0) changes.subjects = [...current.subjects, ...missing];
  if (options.duplicateWindowMs !== undefined && msToNanos(options.duplicateWindowMs) !== current.duplicate_window) {
    changes.duplicate_window = msToNanos(options.duplicateWindowMs);
  }
  if (options.maxAgeMs !== undefined && msToNanos(options.maxAgeMs) !== current.max_age) changes.max_age = msToNanos(options.maxAgeMs);
  if (options.replicas !== undefined && options.replicas !== current.num_replicas) changes.num_replicas = options.replicas;
  const changed = Object.keys(changes);
  const info =
    changed.length === 0 ? existing : await refused(changed.join(', '), name, () => jsm.streams.update(name, { ...current, ...changes }));
  checkDuplicateWindow(nanosToMs(info.config.duplicate_window), options.requiredDuplicateWindowMs);
  return { info, action: changed.length === 0 ? 'unchanged' : 'updated', changed };
}

/**
 * The stream's `duplicate_window` in ms, for the relay's startup check (docs/guarantees.md#8-coherent-windows).
 * @throws OutboxConfigError (setting `stream`) when the stream does not exist.
 */
export async function readDuplicateWindowMs(source: JetStreamManagerSource, stream: string): Promise<number> {
  const info = await streamInfoOrNull(source, stream);
  if (info === null) throw new OutboxConfigError('stream', `stream ${stream} does not exist: create it with ensureStream()`);
  return nanosToMs(info.config.duplicate_window);
}

/** The stream's info, or `null` when there is no such stream. */
export async function streamInfoOrNull(source: JetStreamManagerSource, name: string): Promise<StreamInfo | null> {
  const jsm = await toManager(source);
  try {
    return await jsm.streams.info(name);
  } catch (error) {
    if ((error as Error).name === 'StreamNotFoundError') return null;
    throw error;
  }
}

function checkDuplicateWindow(duplicateWindowMs: number, required: RequiredDuplicateWindow | undefined): void {
  if (required === undefined) return;
  const horizon = typeof required === 'number' ? { leaseMs: required, maxRetryDelayMs: 0 } : required;
  checkHorizons({ duplicateWindowMs, leaseMs: horizon.leaseMs, maxRetryDelayMs: horizon.maxRetryDelayMs ?? 0 });
}

function validateStreamOptions(options: EnsureStreamOptions): { name: string; subjects: readonly string[] } {
  if (typeof options.name !== 'string' || !streamNamePattern.test(options.name)) {
    throw new OutboxConfigError(
      'name',
      `a stream name cannot be empty or contain spaces, '.', '*', '>', '/' or '\\'; got ${JSON.stringify(options.name)}`,
    );
  }
  if (!Array.isArray(options.subjects) || options.subjects.length === 0) {
    throw new OutboxConfigError('subjects', `stream ${options.name} needs at least one subject, e.g. ['events.>']`);
  }
  for (const subject of options.subjects) {
    if (typeof subject !== 'string' || !filterSubjectPattern.test(subject)) {
      throw new OutboxConfigError('subjects', `stream ${options.name} has an invalid subject ${JSON.stringify(subject)}`);
    }
  }
  if (options.duplicateWindowMs !== undefined) validateInteger(options.duplicateWindowMs, 'duplicateWindowMs', 1);
  if (options.maxAgeMs !== undefined) validateInteger(options.maxAgeMs, 'maxAgeMs', 0);
  if (options.replicas !== undefined) validateInteger(options.replicas, 'replicas', 1, 5);
  validatePlacement(options.placement);
  const window = options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  if (options.maxAgeMs && window > options.maxAgeMs) {
    throw new OutboxConfigError(
      'duplicateWindowMs',
      `stream ${options.name}: duplicate_window (${formatMs(window)}) cannot exceed max_age (${formatMs(options.maxAgeMs)}); lower duplicateWindowMs or raise maxAgeMs`,
    );
  }
  return { name: options.name, subjects: options.subjects };
}

/** A cluster name or server tag: JetStream matches them as plain strings; whitespace and control characters are refused. */
const placementTokenPattern = /^[^\s\p{Cc}]{1,255}$/u;

function validatePlacement(placement: StreamPlacementOptions | undefined): void {
  if (placement === undefined) return;
  if (placement.cluster !== undefined && (typeof placement.cluster !== 'string' || !placementTokenPattern.test(placement.cluster))) {
    throw new OutboxConfigError(
      'placement.cluster',
      `placement.cluster must be a cluster name without spaces or control characters; got ${JSON.stringify(placement.cluster)}`,
    );
  }
  if (placement.tags !== undefined) {
    if (!Array.isArray(placement.tags)) throw new OutboxConfigError('placement.tags', 'placement.tags must be an array of strings');
    for (const tag of placement.tags) {
      if (typeof tag !== 'string' || !placementTokenPattern.test(tag)) {
        throw new OutboxConfigError(
          'placement.tags',
          `placement.tags has an invalid tag ${JSON.stringify(tag)}: tags are server_tags values, without spaces or control characters`,
        );
      }
    }
  }
}

function placementConfig(placement: StreamPlacementOptions | undefined): StreamConfig['placement'] | undefined {
  if (placement === undefined) return undefined;
  const tags = placement.tags ?? [];
  if (placement.cluster === undefined && tags.length === 0) return undefined;
  return { cluster: placement.cluster ?? '', tags: [...tags] };
}

/** Runs a stream or consumer change, turning the server's refusal into a config error naming the setting. */
export async function refused<T>(setting: string, name: string, change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if ((error as Error).name === 'JetStreamApiError' || (error as Error).name === 'StreamNotFoundError') {
      throw new OutboxConfigError(setting, `JetStream refused ${setting} for ${name}: ${errorMessage(error)}`, { cause: error });
    }
    throw error;
  }
}
