import type { BusHealth } from '@outboxkit/outbox-core';

/** The parts of a JetStream `StreamInfo` that say whether the stream can take messages. */
export interface StreamInfoLike {
  readonly config: {
    readonly name: string;
    readonly num_replicas?: number;
    readonly discard?: string;
    readonly max_msgs?: number;
    readonly max_bytes?: number;
    readonly max_msgs_per_subject?: number;
  };
  readonly state: { readonly messages: number; readonly bytes: number; readonly first_seq: number; readonly last_seq: number };
  readonly cluster?: {
    readonly leader?: string;
    readonly replicas?: readonly { readonly name: string; readonly current: boolean; readonly offline?: boolean }[];
  };
}

/** An unhealthy `BusHealth`. */
export type BusOutage = Exclude<BusHealth, { ok: true }>;

/** JetStream's error code when a stream refuses a message on its limits (`maximum messages exceeded`, `maximum bytes exceeded`). */
const STREAM_STORE_FAILED = 10077;
/** JetStream's error code when the server's storage is exhausted. */
const INSUFFICIENT_RESOURCES = 10023;

/** True when a publish failed because the stream (or the server's storage) is full: a `discard: new` limit or no space. */
export function isStreamFullError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const api = (current as { apiError?: () => { err_code?: number; description?: string } }).apiError?.();
    if (api) {
      if (api.err_code === INSUFFICIENT_RESOURCES) return true;
      if (api.err_code === STREAM_STORE_FAILED && /maximum|exceeded|resources/i.test(api.description ?? '')) return true;
    }
    current = current.cause;
  }
  return false;
}

/**
 * Remembers that publishes were refused as "full" until the stream changes. Why: a stream full by
 * `max_bytes` or a server out of storage does not show it in its state (the next message may or
 * may not fit), so the refusal itself is the evidence; it holds while the stream's sequence range
 * and limits stay as they were at the first probe after it (a purge, a deleted message, raised
 * limits or a new stream end it), and at most `holdMs`, after which one batch may try again.
 */
export class FullSignal {
  readonly #holdMs: number;
  #since: number | undefined;
  #snapshot: string | undefined;

  constructor(holdMs = 30_000) {
    this.#holdMs = holdMs;
  }

  refused(): void {
    this.#since ??= Date.now();
  }

  accepted(): void {
    this.#since = undefined;
    this.#snapshot = undefined;
  }

  /** True while the last refusal still holds for this stream state. */
  holds(info: StreamInfoLike): boolean {
    if (this.#since === undefined) return false;
    const key = [
      info.state.first_seq,
      info.state.last_seq,
      info.config.max_msgs,
      info.config.max_bytes,
      info.config.max_msgs_per_subject,
      info.config.discard,
    ].join('/');
    this.#snapshot ??= key;
    if (this.#snapshot !== key || Date.now() - this.#since > this.#holdMs) {
      this.accepted();
      return false;
    }
    return true;
  }
}

/**
 * Reads a stream's info as health: a replicated stream needs a leader and a quorum of current
 * replicas; a `discard: new` stream at its `max_msgs` or `max_bytes`, or one that just refused
 * messages as full (`full`), cannot take more.
 */
export function streamInfoHealth(info: StreamInfoLike, full: FullSignal): BusHealth {
  const name = info.config.name;
  const replicas = info.config.num_replicas ?? 1;
  if (replicas > 1 || info.cluster?.replicas?.length) {
    if (!info.cluster?.leader) {
      return { ok: false, reason: 'no-leader', detail: `the stream ${name} (R${replicas}) has no leader` };
    }
    const current = 1 + (info.cluster.replicas ?? []).filter((replica) => replica.current && replica.offline !== true).length;
    const quorum = Math.floor(replicas / 2) + 1;
    if (current < quorum) {
      return {
        ok: false,
        reason: 'no-leader',
        detail: `the stream ${name} (R${replicas}) has no quorum: ${current} of ${replicas} replicas current, ${quorum} needed`,
      };
    }
  }
  const { config, state } = info;
  // Asked first so that it records the stream as it is now, whatever else says full.
  const refused = full.holds(info);
  if (config.discard === 'new') {
    if (config.max_msgs !== undefined && config.max_msgs > 0 && state.messages >= config.max_msgs) {
      return {
        ok: false,
        reason: 'full',
        detail: `the stream ${name} holds ${state.messages} of max_msgs ${config.max_msgs} (discard: new)`,
      };
    }
    if (config.max_bytes !== undefined && config.max_bytes > 0 && state.bytes >= config.max_bytes) {
      return {
        ok: false,
        reason: 'full',
        detail: `the stream ${name} holds ${state.bytes} of max_bytes ${config.max_bytes} (discard: new)`,
      };
    }
  }
  if (refused) {
    return {
      ok: false,
      reason: 'full',
      detail: `the stream ${name} refused messages as full (limits or storage) and has not changed since: make room, raise its limits or add storage`,
    };
  }
  return { ok: true };
}
