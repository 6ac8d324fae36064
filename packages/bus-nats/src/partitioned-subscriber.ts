import { hostname } from 'node:os';
import { type KV, Kvm } from '@nats-io/kv';
import { nuid } from '@nats-io/nats-core';
import { type FetchOptions, type Logger, OutboxConfigError, OutboxUsageError, type Subscriber } from '@outboxkit/outbox-core';
import { noopLogger, validateInteger } from '@outboxkit/outbox-core/driver';
import type { NatsDelivery } from './nats-delivery.js';
import { NatsSubscriber, type NatsSubscriberCreateOptions } from './nats-subscriber.js';
import { fnv1a, partitionDurable, validatePartitions } from './partitions.js';
import { waitForWake } from './wait-for-wake.js';

/** Options of {@link PartitionedSubscriber.create}. */
export interface PartitionedSubscriberOptions extends Omit<NatsSubscriberCreateOptions, 'name'> {
  /** The consumer's name (inbox, dead letters); its durables are `<consumer>-p<k>` (see `ensurePartitionedConsumer`). */
  readonly consumer: string;
  /** The stream's partition count: the relays' `partitions`. */
  readonly partitions: number;
  /**
   * How long a partition stays owned without a renewal: after a kill -9 its partitions move to the
   * other instances within this plus one renewal period (`leaseMs / 3`). @defaultValue 10_000
   */
  readonly leaseMs?: number;
  /** This instance's id in the lease bucket. @defaultValue `<host>-<pid>-<random>` */
  readonly instance?: string;
  /** The KV bucket of the leases. @defaultValue `outbox-leases_<stream>_<consumer>` */
  readonly bucket?: string;
}

/** What {@link readPartitionOwners} found in a partitioned consumer's lease bucket. */
export interface PartitionOwners {
  readonly bucket: string;
  /** The instances that renewed their member entry within the lease, by id. */
  readonly members: readonly { readonly instance: string; readonly renewedAt: string }[];
  /** The leased partitions, ascending; a partition missing here is free (or its owner's lease lapsed). */
  readonly partitions: readonly { readonly partition: number; readonly instance: string; readonly renewedAt: string }[];
}

/**
 * Reads who owns which partition of a partitioned consumer, from its lease bucket: the operator's
 * view of `PartitionedSubscriber`. `null` when the bucket does not exist (no instance ever started).
 * @example
 * ```ts
 * const owners = await readPartitionOwners(nc, { stream: 'EVENTS', consumer: 'basket' });
 * const ownerOf = new Map(owners?.partitions.map((entry) => [entry.partition, entry.instance]));
 * ```
 */
export async function readPartitionOwners(
  connection: PartitionedSubscriberOptions['connection'],
  options: { readonly stream: string; readonly consumer: string; readonly bucket?: string },
): Promise<PartitionOwners | null> {
  const bucket = options.bucket ?? leaseBucketName(options.stream, options.consumer);
  let kv: KV;
  try {
    kv = await new Kvm(connection).open(bucket);
    await kv.status();
  } catch (error) {
    if ((error as Error).name === 'StreamNotFoundError' || /stream not found|bucket not found/i.test((error as Error).message)) return null;
    throw error;
  }
  const members: { instance: string; renewedAt: string }[] = [];
  const partitions: { partition: number; instance: string; renewedAt: string }[] = [];
  // A key renewed while the listing runs can be listed twice: each key is read once.
  const keys = new Set<string>();
  for await (const key of await kv.keys()) keys.add(key);
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    const renewedAt = entry.created.toISOString();
    if (key.startsWith(MEMBER_PREFIX)) members.push({ instance: key.slice(MEMBER_PREFIX.length), renewedAt });
    else if (key.startsWith(KEY_PREFIX)) {
      let instance = '?';
      try {
        instance = String((JSON.parse(entry.string()) as { instance?: unknown }).instance ?? '?');
      } catch {
        // A value not written by PartitionedSubscriber: shown as '?'.
      }
      partitions.push({ partition: Number(key.slice(KEY_PREFIX.length)), instance, renewedAt });
    }
  }
  members.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  partitions.sort((a, b) => a.partition - b.partition);
  return { bucket, members, partitions };
}

/** The default lease bucket of a partitioned consumer. */
function leaseBucketName(stream: string, consumer: string): string {
  return `outbox-leases_${stream}_${consumer}`;
}

/** What {@link PartitionedSubscriber.partitions} reports. */
export interface PartitionOwnership {
  readonly instance: string;
  /** Partitions this instance reads now. */
  readonly owned: readonly number[];
  /** Partitions this instance gives up once their messages in hand are settled. */
  readonly releasing: readonly number[];
  /** Instances of the consumer seen at the last renewal, this one included. */
  readonly members: number;
}

/** One owned partition: its durable's subscriber, its lease, and the messages it handed out. */
interface Lane {
  readonly partition: number;
  readonly subscriber: NatsSubscriber;
  /** The lease entry's revision: a renewal must name it, so a lease someone else took fails to renew. */
  revision: number;
  renewedAt: number;
  state: 'active' | 'releasing';
  releasingSince: number;
  /** The pull in progress; it outlives one `fetch` call, so a partition with nothing new keeps waiting server-side. */
  pulling: Promise<void> | undefined;
  /** Handed out and maybe not settled yet: a release waits for them (at most `ack_wait`). */
  handed: NatsDelivery[];
}

const KEY_PREFIX = 'partition.';
const MEMBER_PREFIX = 'member.';

/**
 * Reads a partitioned consumer: N instances divide the stream's partitions between them through
 * leases in a JetStream KV bucket, so each subject (aggregate key) is read by one instance at a
 * time and a hot subject keeps only its own partition busy. Works on nats-server 2.9: partitions
 * are a subject token (`NatsPublisher`'s `partitions`), each has a durable, and a lease is a KV
 * entry renewed with the revision last seen (the bucket's `max_age` is the lease: 2.9 has no
 * per-key TTL).
 *
 * Every `leaseMs / 3` an instance renews its leases and its `member.<instance>` entry, counts the
 * members, and aims for its share: `floor(P / M)`, one more for the first `P mod M` members by id.
 * It releases a surplus partition once the messages it handed out are settled (or after
 * `ack_wait`), and takes free ones with `create` (which fails when the key exists). A lease it
 * cannot renew (someone else took it, or it lapsed while NATS was unreachable) stops that
 * partition at once. Order does not depend on the leases being exclusive: the inbox position,
 * locked in the consumer's transaction, serialises two instances that both hold a subject's events
 * during a move. See docs/design/ordering.md, section 2.
 *
 * @example
 * ```ts
 * await ensurePartitionedConsumer(nc, { stream: 'EVENTS', name: 'basket', partitions: 16, filterSubjects: ['events.catalog.>'] });
 * const subscriber = await PartitionedSubscriber.create({ connection: nc, stream: 'EVENTS', consumer: 'basket', partitions: 16 });
 * const consumer = new Consumer({ subscriber, inbox }); // then .on(EventType, handler) and start()
 * ```
 */
export class PartitionedSubscriber implements Subscriber {
  readonly name: string;
  readonly messagingSystem = 'nats';
  readonly maxDeliver: number;
  readonly redeliveryHorizonMs: number | undefined;
  readonly ackWaitMs: number | undefined;
  readonly maxAckPending: number | undefined;
  readonly instance: string;
  readonly #options: PartitionedSubscriberOptions;
  readonly #count: number;
  readonly #leaseMs: number;
  readonly #kv: KV;
  readonly #logger: Logger;
  readonly #lanes = new Map<number, Lane>();
  /** Lanes no longer read whose handed-out messages are not all settled: their subscribers stay open for those acks. */
  readonly #retired: Lane[] = [];
  /** The last failed pull, thrown by `fetch` when nothing arrived, so the consumer backs off instead of spinning. */
  #pullError: unknown;
  /** Fetched and not handed out yet (a fetch returns at most `max`; the rest waits here for the next). */
  readonly #ready: NatsDelivery[] = [];
  #members = 1;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #wake: (() => void) | null = null;
  #fetching = false;
  #closed = false;

  private constructor(options: PartitionedSubscriberOptions, kv: KV, template: NatsSubscriber) {
    this.#options = options;
    this.name = options.consumer;
    this.#count = options.partitions;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#kv = kv;
    this.#logger = options.logger ?? noopLogger;
    this.instance = options.instance ?? `${hostname().replace(/[^\w-]/g, '_')}-${process.pid}-${nuid.next().slice(-8)}`;
    this.maxDeliver = template.maxDeliver;
    this.redeliveryHorizonMs = template.redeliveryHorizonMs;
    this.ackWaitMs = template.ackWaitMs;
    this.maxAckPending = template.maxAckPending;
  }

  /**
   * Checks the options and the durable of partition 0 (as `NatsSubscriber.create` does), opens or
   * creates the lease bucket, joins, and takes a first share before resolving.
   * @throws OutboxConfigError for an invalid option, a missing durable or dead-letter stream.
   */
  static async create(options: PartitionedSubscriberOptions): Promise<PartitionedSubscriber> {
    validatePartitions(options.partitions);
    const leaseMs = validateInteger(options.leaseMs ?? 10_000, 'leaseMs', 300);
    if (options.instance !== undefined && !/^[\w-]{1,128}$/.test(options.instance)) {
      throw new OutboxConfigError('instance', `instance ${JSON.stringify(options.instance)} must be 1-128 letters, digits, '_' or '-'`);
    }
    const bucket = options.bucket ?? leaseBucketName(options.stream, options.consumer);
    if (!/^[\w-]{1,200}$/.test(bucket)) {
      throw new OutboxConfigError(
        'bucket',
        `the lease bucket name ${JSON.stringify(bucket)} may hold only letters, digits, '_' and '-': set bucket, or use such stream and consumer names`,
      );
    }
    const template = await NatsSubscriber.create({ ...options, consumer: partitionDurable(options.consumer, 0), name: options.consumer });
    await template.close();
    const kv = await new Kvm(options.connection).create(bucket, { history: 1, ttl: leaseMs });
    const subscriber = new PartitionedSubscriber(options, kv, template);
    await subscriber.#tick();
    subscriber.#schedule();
    return subscriber;
  }

  /** The partitions this instance owns and gives up now. */
  partitions(): PartitionOwnership {
    const owned: number[] = [];
    const releasing: number[] = [];
    for (const lane of this.#lanes.values()) (lane.state === 'active' ? owned : releasing).push(lane.partition);
    return {
      instance: this.instance,
      owned: owned.sort((a, b) => a - b),
      releasing: releasing.sort((a, b) => a - b),
      members: this.#members,
    };
  }

  async fetch(options: FetchOptions): Promise<readonly NatsDelivery[]> {
    if (this.#closed) throw new OutboxUsageError(`fetch() on subscriber ${this.name} after close()`);
    if (this.#fetching)
      throw new OutboxUsageError(`fetch() on subscriber ${this.name} while another fetch() runs; use one subscriber per loop`);
    const max = validateInteger(options.max, 'max', 1, 10_000);
    this.#fetching = true;
    try {
      // Pull ahead on every idle partition while fewer than a batch wait here, so the next batch is
      // on its way while this one is handled.
      if (this.#ready.length < max) {
        const active = [...this.#lanes.values()].filter((lane) => lane.state === 'active');
        const share = Math.max(1, Math.ceil(max / Math.max(1, active.length)));
        for (const lane of active) lane.pulling ??= this.#pull(lane, share, options.expiresMs);
      }
      if (this.#ready.length === 0) {
        await this.#waitForReady(options.expiresMs, options.signal);
        const error = this.#pullError;
        this.#pullError = undefined;
        if (this.#ready.length === 0 && error !== undefined) throw error;
      }
      return this.#ready.splice(0, max);
    } finally {
      this.#fetching = false;
    }
  }

  /** Sums `num_pending` over the owned partitions' durables. */
  async pending(): Promise<number> {
    let sum = 0;
    for (const lane of this.#lanes.values()) if (lane.state === 'active') sum += await lane.subscriber.pending();
    return sum;
  }

  /**
   * Stops renewing, gives back what was fetched but not handed out, closes the partitions'
   * subscribers and deletes this instance's leases and member entry, so the other instances take
   * its partitions at their next renewal instead of after the lease. Call it after the consumer
   * stopped (its messages in hand settled).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#ticking;
    await Promise.all(this.#ready.splice(0).map((delivery) => delivery.nak(0).catch(() => undefined)));
    await Promise.all([...this.#lanes.values()].map((lane) => this.#drop(lane, true)));
    await this.#closeRetired(true);
    await this.#kv.delete(`${MEMBER_PREFIX}${this.instance}`).catch(() => undefined);
  }

  /** One pull of `lane`'s durable; what it brings goes to `#ready`, or back to the server when the lane is no longer active. */
  #pull(lane: Lane, max: number, expiresMs: number): Promise<void> {
    return lane.subscriber
      .fetch({ max, expiresMs })
      .then(
        async (deliveries) => {
          if (lane.state === 'active' && !this.#closed) {
            this.#ready.push(...deliveries);
            lane.handed = lane.handed.filter((delivery) => !delivery.settled).concat(deliveries);
          } else {
            await Promise.all(deliveries.map((delivery) => delivery.nak(0).catch(() => undefined)));
          }
        },
        (error: unknown) => {
          this.#pullError = error;
        },
      )
      .finally(() => {
        lane.pulling = undefined;
        this.#wake?.();
      });
  }

  #waitForReady(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    // A pull that ends empty wakes us too: end the wait only when something arrived or nothing pulls.
    return waitForWake(
      Math.max(10, timeoutMs),
      signal,
      (wake) => {
        this.#wake = wake;
      },
      () => this.#ready.length > 0 || this.#closed || ![...this.#lanes.values()].some((lane) => lane.pulling),
    );
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(
      () => {
        this.#ticking = this.#tick()
          .catch((error: unknown) => this.#logger.warn({ consumer: this.name, err: error }, 'partition lease renewal failed'))
          .finally(() => {
            this.#ticking = undefined;
            this.#schedule();
          });
      },
      Math.floor(this.#leaseMs / 3),
    );
    this.#timer.unref?.();
  }

  /** Renews, counts the members, gives up a surplus, takes free partitions up to this instance's share. */
  async #tick(): Promise<void> {
    const value = JSON.stringify({ instance: this.instance, at: new Date().toISOString() });
    await this.#kv.put(`${MEMBER_PREFIX}${this.instance}`, value).catch((error: unknown) => {
      this.#logger.warn({ consumer: this.name, err: error }, 'could not renew the member entry');
    });
    const now = Date.now();
    await Promise.all(
      [...this.#lanes.values()].map(async (lane) => {
        try {
          lane.revision = await this.#kv.update(`${KEY_PREFIX}${lane.partition}`, value, lane.revision);
          lane.renewedAt = now;
        } catch (error) {
          // Taken by someone else (wrong revision), or unrenewed for most of the lease: stop reading it now.
          const taken = (error as { code?: number }).code === 10071;
          if (taken || now - lane.renewedAt > (this.#leaseMs * 2) / 3) {
            this.#logger.warn({ consumer: this.name, partition: lane.partition, err: error }, 'lost the lease of a partition');
            await this.#drop(lane, false);
          }
        }
      }),
    );
    this.#closeRetired(false);
    if (this.#closed) return;
    const members = new Set<string>([this.instance]);
    const taken = new Set<number>();
    // Bounded: a listing that hangs (NATS away) must not hold up the next renewal.
    await withTimeout(
      (async () => {
        for await (const key of await this.#kv.keys()) {
          if (key.startsWith(MEMBER_PREFIX)) members.add(key.slice(MEMBER_PREFIX.length));
          else if (key.startsWith(KEY_PREFIX)) taken.add(Number(key.slice(KEY_PREFIX.length)));
        }
      })(),
      Math.floor(this.#leaseMs / 3),
      'listing the lease bucket',
    );
    this.#members = members.size;
    const rank = [...members].sort().indexOf(this.instance);
    const share = Math.floor(this.#count / members.size) + (rank < this.#count % members.size ? 1 : 0);
    const active = [...this.#lanes.values()].filter((lane) => lane.state === 'active');
    // Give up the partitions this instance likes least, so each instance keeps the ones it prefers.
    active.sort((a, b) => this.#preference(a.partition) - this.#preference(b.partition));
    for (const lane of active.slice(share)) {
      lane.state = 'releasing';
      lane.releasingSince = now;
      this.#logger.info({ consumer: this.name, partition: lane.partition, members: members.size }, 'releasing a partition');
    }
    for (const lane of [...this.#lanes.values()]) {
      if (lane.state !== 'releasing' || lane.pulling) continue;
      const inHand = lane.handed.some((delivery) => !delivery.settled);
      if (!inHand || now - lane.releasingSince > (this.ackWaitMs ?? 30_000)) await this.#drop(lane, true);
    }
    let missing = share - Math.min(active.length, share);
    const free = [...Array(this.#count).keys()].filter((partition) => !taken.has(partition) && !this.#lanes.has(partition));
    free.sort((a, b) => this.#preference(a) - this.#preference(b));
    for (const partition of free) {
      if (missing <= 0 || this.#closed) break;
      if (await this.#acquire(partition, value)) missing--;
    }
  }

  /** Lower is preferred: a per-instance order of the partitions, so instances reach for different ones. */
  #preference(partition: number): number {
    return fnv1a(`${this.instance}.${partition}`);
  }

  async #acquire(partition: number, value: string): Promise<boolean> {
    let revision: number;
    try {
      revision = await this.#kv.create(`${KEY_PREFIX}${partition}`, value);
    } catch {
      return false; // taken meanwhile
    }
    try {
      const subscriber = await NatsSubscriber.create({
        ...this.#options,
        consumer: partitionDurable(this.name, partition),
        name: this.name,
      });
      this.#lanes.set(partition, {
        partition,
        subscriber,
        revision,
        renewedAt: Date.now(),
        state: 'active',
        releasingSince: 0,
        pulling: undefined,
        handed: [],
      });
      this.#logger.info({ consumer: this.name, partition }, 'acquired a partition');
      return true;
    } catch (error) {
      await this.#kv.delete(`${KEY_PREFIX}${partition}`, { previousSeq: revision }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Stops reading `lane`; deletes its lease when this instance still holds it (`release`). Its
   * subscriber stays open until the messages it handed out are settled, so their acks still reach
   * the server.
   */
  async #drop(lane: Lane, release: boolean): Promise<void> {
    this.#lanes.delete(lane.partition);
    lane.state = 'releasing';
    await lane.pulling;
    if (release) {
      await this.#kv.delete(`${KEY_PREFIX}${lane.partition}`, { previousSeq: lane.revision }).catch(() => undefined);
      this.#logger.info({ consumer: this.name, partition: lane.partition }, 'released a partition');
    }
    this.#retired.push(lane);
    this.#closeRetired(false);
  }

  /** Closes the retired lanes whose messages are all settled (all of them with `force`). */
  #closeRetired(force: boolean): Promise<unknown> {
    const closing: Promise<void>[] = [];
    for (let index = this.#retired.length - 1; index >= 0; index--) {
      const lane = this.#retired[index] as Lane;
      if (force || lane.handed.every((delivery) => delivery.settled)) {
        this.#retired.splice(index, 1);
        closing.push(lane.subscriber.close());
      }
    }
    return Promise.all(closing);
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
