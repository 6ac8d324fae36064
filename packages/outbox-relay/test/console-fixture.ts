import type { NatsConnection } from '@nats-io/transport-node';
import { ensureConsumer, ensureDeadLetterStream, ensureStream, NatsPublisher, NatsSubscriber } from '@outboxkit/bus-nats';
import { createEvent, type OutboxEvent, type OutboxStore } from '@outboxkit/outbox-core';
import { randomName } from './random-name.js';
import { type RelayProcess, startRelay } from './relay-process.js';

/** What the console tests plant in the data: each must come back as data and show as text. */
export const HOSTILE_SUBJECT = '<img src=x onerror="window.__pwned=1">';
export const SCRIPT_PAYLOAD = { html: '<script>window.__pwned=2</script>', ctl: 'bell\u0007 esc\u001b[2J rtl\u202eevil' };
// Under the stores' 1 MiB enqueue limit (maxEventBytes), with its JSON around it.
export const BIG_PAYLOAD = { blob: 'x'.repeat(1_000_000) };
/** A password in the database URL the console is given (PostgreSQL on loopback trusts, so it is never checked). */
export const DB_PASSWORD = 's3cretConsolePassw0rd';
export const TOKEN = 'console-token-0123456789abcdef';

/** The database side of a console test: PostgreSQL or MariaDB, through its store. */
export interface SeededOutbox {
  readonly store: OutboxStore<unknown>;
  enqueue(events: readonly OutboxEvent[]): Promise<void>;
}

/** Seeded content, by role. */
export interface Seeded {
  readonly pending: OutboxEvent[];
  /** Dead: a hostile subject, a `<script>` payload, a 1 MB payload, and one whose error carries the password. */
  readonly dead: { hostile: OutboxEvent; script: OutboxEvent; big: OutboxEvent; leaky: OutboxEvent };
}

/**
 * Enqueues `pendingCount` ordinary events over 3 subjects (one of them hostile) and 4 events that
 * the test dead-letters through the store (claim, then `deadLetter`), as a relay would.
 */
export async function seedOutbox(outbox: SeededOutbox, pendingCount: number): Promise<Seeded> {
  const hostile = createEvent({ type: 'test.item.broken', source: 'console-test', subject: HOSTILE_SUBJECT, data: { n: 0 } });
  const script = createEvent({
    type: 'test.item.broken',
    source: 'console-test',
    subject: 'script-1',
    data: SCRIPT_PAYLOAD,
    headers: { 'x-note': '<b>bold</b>' },
  });
  const big = createEvent({ type: 'test.item.big', source: 'console-test', subject: 'big-1', data: BIG_PAYLOAD });
  const leaky = createEvent({ type: 'test.item.broken', source: 'console-test', subject: 'leaky-1', data: { n: 1 } });
  await outbox.enqueue([hostile, script, big, leaky]);
  // The four are the heads of their subjects: one claim takes them all.
  const claim = await outbox.store.claim({ batchSize: 10, leaseMs: 30_000 });
  const errors: Record<string, string> = {
    [hostile.id]: `publish failed: <img src=x onerror="window.__pwned=3"> \u001b[31mred`,
    [script.id]: 'handler said <script>window.__pwned=4</script>',
    [big.id]: 'maximum payload exceeded',
    [leaky.id]: `could not connect to postgres://app:${DB_PASSWORD}@db.internal:5432/orders (password ${DB_PASSWORD})`,
  };
  await outbox.store.deadLetter(
    claim.token,
    claim.records.map((record) => ({ id: record.id, error: errors[record.id] ?? 'boom' })),
  );
  const pending = Array.from({ length: pendingCount }, (_, index) =>
    createEvent({
      type: 'test.item.changed',
      source: 'console-test',
      subject: index % 3 === 0 ? HOSTILE_SUBJECT : `item-${index % 3}`,
      data: { index },
    }),
  );
  await outbox.enqueue(pending);
  return { pending, dead: { hostile, script, big, leaky } };
}

/** The NATS side: the event stream with a `basket` consumer, and a dead-letter stream with `letters` of basket's. */
export async function seedStreams(nc: NatsConnection, letters: number): Promise<{ stream: string; dlqStream: string; dlqPrefix: string }> {
  const stream = randomName('CONSOLE').toUpperCase();
  const dlqStream = randomName('CONSOLEDLQ').toUpperCase();
  const dlqPrefix = randomName('cdlq');
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: 3, ackWaitMs: 30_000 });
  if (letters > 0) {
    const records = Array.from({ length: letters }, (_, index) => {
      const event = createEvent({
        type: 'catalog.product.price-changed',
        source: 'catalog',
        subject: index === 0 ? HOSTILE_SUBJECT : `product-${index}`,
        data: index === 0 ? SCRIPT_PAYLOAD : { n: index },
      });
      return {
        id: event.id,
        type: event.type,
        source: event.source,
        subject: event.subject,
        time: event.time,
        payload: JSON.stringify(event.data),
        headers: {},
        attempts: 0,
      };
    });
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish(records);
    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    const deliveries = await subscriber.fetch({ max: letters, expiresMs: 2_000 });
    for (const delivery of deliveries) {
      await delivery.deadLetter({ code: 'HANDLER_FAILED', error: 'handler threw <script>window.__pwned=5</script>', consumer: 'basket' });
    }
    await subscriber.close();
  }
  return { stream, dlqStream, dlqPrefix };
}

/** A started console (or relay with `--console`) and its base URL. */
export interface ConsoleUnderTest {
  readonly relay: RelayProcess;
  readonly base: string;
}

/** Starts `outbox-relay <args>` and waits for its `console listening` line. */
export async function startConsoleProcess(args: readonly string[], env: Record<string, string>): Promise<ConsoleUnderTest> {
  const relay = startRelay(args, { OUTBOX_CONSOLE_PORT: '0', ...env });
  const line = await relay.waitForLog('console listening');
  return { relay, base: `http://${String(line.address)}` };
}

/** A JSON answer of the console API, as the tests read it. */
export type JsonObject = Record<string, unknown> & { items?: Array<Record<string, unknown>> };

/** A fetch of the console API as JSON. */
export async function call(
  base: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; text: string; json: <T = JsonObject>() => T }> {
  const response = await fetch(`${base}/console/api/${path}`, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return { status: response.status, text, json: <T = JsonObject>() => JSON.parse(text) as T };
}

/** Headers of an authorised JSON mutation. */
export function authorised(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...extra };
}
