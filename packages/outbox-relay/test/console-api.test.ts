import { request } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { MysqlOutboxStore } from '@outboxkit/outbox-mysql';
import { NATS_URL, PG_URL, waitUntil } from '@outboxkit/test-services';
import { createPool, type Pool as MysqlPool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorised,
  BIG_PAYLOAD,
  type ConsoleUnderTest,
  call,
  DB_PASSWORD,
  HOSTILE_SUBJECT,
  SCRIPT_PAYLOAD,
  type Seeded,
  seedOutbox,
  seedStreams,
  startConsoleProcess,
  TOKEN,
} from './console-fixture.js';
import { MysqlFixture } from './mysql-fixture.js';
import { deleteStream, natsConnect } from './nats-stream.js';
import { pgFixtureWithNatsPerFile } from './pg-fixture.js';
import { runRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});
const table = 'outbox';

/** The PostgreSQL URL with a password in it: the console must never show it. */
function urlWithPassword(): string {
  const url = new URL(PG_URL);
  url.username = url.username || 'postgres';
  url.password = DB_PASSWORD;
  return url.toString();
}

/** The parts of `/console/api/overview` the tests read. */
interface Overview {
  latest: { pending: number; dead: number };
  mutations: boolean;
  labels: Record<string, string>;
  backlog: Array<{ subject: string; pending: number }>;
  waiting: Array<{ subject: string; state: string; error: string }>;
  stream: { name: string; messages: number; consumers: Array<{ name: string; pending: number; ackPending: number }> };
  dlq: { name: string; messages: number };
}

/** Every way the database URL or its password could leak into an answer. */
function expectNoSecret(text: string): void {
  expect(text).not.toContain(DB_PASSWORD);
  expect(text).not.toContain(encodeURIComponent(DB_PASSWORD));
  expect(text).not.toContain(TOKEN);
  expect(text).not.toMatch(/postgres(ql)?:\/\/[^"]*127\.0\.0\.1/);
  expect(text).not.toContain(NATS_URL);
}

describe('outbox-relay console API on PostgreSQL + NATS', { timeout: 120_000 }, () => {
  let seeded: Seeded;
  let names: { stream: string; dlqStream: string; dlqPrefix: string };
  let consoleProcess: ConsoleUnderTest;
  let env: Record<string, string>;

  beforeAll(async () => {
    const store = fixture.store(table);
    await store.migrate();
    seeded = await seedOutbox({ store, enqueue: (events) => fixture.enqueue(table, events) }, 9);
    names = await seedStreams(nc, 3);
    streams.push(names.stream, names.dlqStream);
    env = {
      OUTBOX_DATABASE_URL: urlWithPassword(),
      OUTBOX_SCHEMA: fixture.schema,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: NATS_URL,
      OUTBOX_STREAM: names.stream,
      OUTBOX_DLQ_STREAM: names.dlqStream,
      OUTBOX_DLQ_PREFIX: names.dlqPrefix,
      OUTBOX_CONSOLE_TOKEN: TOKEN,
    };
    consoleProcess = await startConsoleProcess(['console'], env);
  });

  afterAll(() => {
    consoleProcess?.relay.child.kill('SIGTERM');
  });

  it('serves the page with a strict content security policy and no secret in the HTML', async () => {
    const page = await fetch(`${consoleProcess.base}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('<script src="console.js" defer></script>');
    expectNoSecret(html);
    const script = await fetch(`${consoleProcess.base}/console/console.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    // The page builds its DOM from data with textContent only.
    expect(await script.text()).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('reads the overview on loopback without a token: pending, backlog, waiting subjects, stream state', async () => {
    const response = await call(consoleProcess.base, 'overview');
    expect(response.status).toBe(200);
    expectNoSecret(response.text);
    const body = response.json<Overview>();
    expect(body.latest).toMatchObject({ pending: 9, dead: 4 });
    expect(body.mutations).toBe(true);
    expect(body.labels).toEqual({ driver: 'pg', table: `${fixture.schema}.${table}`, stream: names.stream });
    expect(body.backlog.map((row: { subject: string; pending: number }) => [row.subject, row.pending])).toContainEqual([
      HOSTILE_SUBJECT,
      3,
    ]);
    const waiting = body.waiting as Array<{ subject: string; state: string; error: string }>;
    expect(waiting.map((row) => row.subject).sort()).toEqual(['big-1', HOSTILE_SUBJECT, 'leaky-1', 'script-1'].sort());
    expect(waiting.find((row) => row.subject === 'leaky-1')?.error).toContain('postgres://app:***@db.internal');
    expect(body.stream).toMatchObject({ name: names.stream, messages: 3, consumers: [{ name: 'basket', pending: 0, ackPending: 0 }] });
    expect(body.dlq).toMatchObject({ name: names.dlqStream, messages: 3 });
  });

  it('shows a subject whose head failed and waits for its retry, read from the outbox (no relay in this process)', async () => {
    const store = fixture.store(table);
    const batch = await store.claim({ batchSize: 1, leaseMs: 30_000 });
    const head = batch.records[0]!;
    await store.release(batch.token, [{ id: head.id, retryAfterMs: 600_000, error: 'stream refused <b>it</b>', countAttempt: true }]);
    const body = (await call(consoleProcess.base, 'overview')).json<Overview>();
    const failed = (body.waiting as Array<{ subject: string; state: string; error: string; id?: string; retryAt?: string }>).filter(
      (row) => row.state === 'failed',
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ subject: head.subject, id: head.id, error: 'stream refused <b>it</b>' });
    expect(Date.parse(failed[0]!.retryAt ?? '') - Date.now()).toBeGreaterThan(500_000);
  });

  it('returns hostile, control-character and 1 MB payloads as data, exactly, and pages dead events', async () => {
    const list = await call(consoleProcess.base, 'dead?limit=2');
    expect(list.status).toBe(200);
    const first = list.json();
    expect(first.items).toHaveLength(2);
    const second = await call(consoleProcess.base, `dead?limit=2&after=${first.next}`);
    const all = [...(first.items ?? []), ...(second.json().items ?? [])];
    expect(all.map((row) => row.id)).toEqual([seeded.dead.hostile.id, seeded.dead.script.id, seeded.dead.big.id, seeded.dead.leaky.id]);
    // The list carries a preview and the byte count, not the megabyte.
    const big = all.find((row) => row.id === seeded.dead.big.id) as { payload: { text: string; truncated: boolean; bytes: number } };
    expect(big.payload.truncated).toBe(true);
    expect(big.payload.bytes).toBe(JSON.stringify(BIG_PAYLOAD).length);
    expect(list.text.length + second.text.length).toBeLessThan(20_000);

    const filtered = await call(consoleProcess.base, `dead?subject=${encodeURIComponent(HOSTILE_SUBJECT)}`);
    expect(filtered.json().items?.map((row) => row.id)).toEqual([seeded.dead.hostile.id]);
    const searched = await call(consoleProcess.base, 'dead?q=window.__pwned%3D4');
    expect(searched.json().items?.map((row) => row.id)).toEqual([seeded.dead.script.id]);

    const script = (await call(consoleProcess.base, `dead/${seeded.dead.script.id}`)).json();
    expect(JSON.parse(script.payload as string)).toEqual(SCRIPT_PAYLOAD);
    expect(script.headers).toEqual({ 'x-note': '<b>bold</b>' });
    const whole = await call(consoleProcess.base, `dead/${seeded.dead.big.id}`);
    expect(JSON.parse(whole.json().payload as string)).toEqual(BIG_PAYLOAD);
    const leaky = await call(consoleProcess.base, `dead/${seeded.dead.leaky.id}`);
    expectNoSecret(leaky.text);
    expect(leaky.json().lastError).toBe('could not connect to postgres://app:***@db.internal:5432/orders (password ***)');
    expect((await call(consoleProcess.base, 'dead/not-an-id')).status).toBe(404);
    expect((await call(consoleProcess.base, 'dead?limit=0')).status).toBe(400);
  });

  it('refuses a mutation without the token, with a cookie only, as a form post or cross-site, and changes nothing', async () => {
    const body = { ids: [seeded.dead.hostile.id], confirm: 1 };
    const attempts: Array<[string, Record<string, string>, number]> = [
      ['no token', { 'content-type': 'application/json' }, 401],
      ['cookie only', { 'content-type': 'application/json', cookie: `token=${TOKEN}; authorization=Bearer ${TOKEN}` }, 401],
      ['wrong token', { 'content-type': 'application/json', authorization: 'Bearer wrong-token-0123456789abcdef' }, 401],
      ['form post', { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, 415],
      ['cross-site origin', authorised({ origin: 'https://evil.example' }), 403],
      ['cross-site fetch', authorised({ 'sec-fetch-site': 'cross-site' }), 403],
    ];
    for (const [what, headers, status] of attempts) {
      const response = await call(consoleProcess.base, 'dead/retry', { method: 'POST', headers, body });
      expect(response.status, what).toBe(status);
      expectNoSecret(response.text);
    }
    expect((await call(consoleProcess.base, 'dlq/purge', { method: 'POST', headers: {}, body: { all: true, confirm: 3 } })).status).toBe(
      401,
    );
    expect((await call(consoleProcess.base, 'dead/purge', { method: 'GET' })).status).toBe(404);
    const stats = await fixture.store(table).stats();
    expect(stats).toMatchObject({ pending: 9, dead: 4 });
    await waitUntil(
      'the refusals logged',
      () => consoleProcess.relay.logs().filter((line) => line.msg === 'console: mutation refused').length >= attempts.length,
    );
  });

  it('retries with the token after a confirmation of the right count, and logs who, what and how many', async () => {
    const wrong = await call(consoleProcess.base, 'dead/retry', { method: 'POST', headers: authorised(), body: { all: true, confirm: 1 } });
    expect(wrong.status).toBe(409);
    expect(wrong.json()).toMatchObject({ count: 4 });
    expect(await fixture.store(table).stats()).toMatchObject({ dead: 4 });

    const retried = await call(consoleProcess.base, 'dead/retry', {
      method: 'POST',
      headers: authorised({ 'x-outbox-operator': 'alice <on call>' }),
      body: { ids: [seeded.dead.hostile.id], confirm: 1 },
    });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.json()).toMatchObject({ count: 1 });
    expect(await fixture.store(table).stats()).toMatchObject({ pending: 10, dead: 3 });
    const line = await consoleProcess.relay.waitForLog('console: dead events retried');
    expect(line).toMatchObject({ action: 'dead retry', count: 1, requested: 1, who: { operator: 'alice on call' } });
    expect(String((line.who as { address: string }).address)).toMatch(/127\.0\.0\.1/);

    const purged = await call(consoleProcess.base, 'dead/purge', {
      method: 'POST',
      headers: authorised(),
      body: { ids: [seeded.dead.leaky.id], confirm: 1 },
    });
    expect(purged.json()).toMatchObject({ count: 1 });
    expect(await fixture.store(table).stats()).toMatchObject({ dead: 2 });
    await consoleProcess.relay.waitForLog('console: dead events purged');
  });

  it('lists, shows, replays and purges the consumers dead letters, as the dlq commands do', async () => {
    const list = await call(consoleProcess.base, 'dlq?limit=2');
    expect(list.status, list.text).toBe(200);
    const page = list.json();
    expect(page.items).toHaveLength(2);
    expect(page.next).toBe(2);
    const first = page.items?.[0] as { sequence: number; subject: string; consumer: string; code: string };
    expect(first).toMatchObject({ subject: HOSTILE_SUBJECT, consumer: 'basket', code: 'HANDLER_FAILED' });
    const shown = (await call(consoleProcess.base, `dlq/${first.sequence}`)).json();
    expect(JSON.parse(shown.data as string)).toEqual(SCRIPT_PAYLOAD);
    const filtered = await call(consoleProcess.base, `dlq?subject=${encodeURIComponent(HOSTILE_SUBJECT)}`);
    expect(filtered.json().items?.map((row) => row.sequence)).toEqual([first.sequence]);

    const before = (await call(consoleProcess.base, 'overview')).json<Overview>();
    const replay = await call(consoleProcess.base, 'dlq/replay', {
      method: 'POST',
      headers: authorised(),
      body: { sequences: [first.sequence], confirm: 1 },
    });
    expect(replay.status, replay.text).toBe(200);
    expect(replay.json()).toMatchObject({ count: 1, duplicates: 0 });
    // The replay is in the source stream, for basket, and the letter is gone.
    await waitUntil('the replay stored', async () => {
      const overview = (await call(consoleProcess.base, 'overview')).json<Overview>();
      return overview.stream.messages === before.stream.messages + 1 && overview.stream.consumers[0]?.pending === 1;
    });
    const probe = await call(consoleProcess.base, 'dlq/purge', { method: 'POST', headers: authorised(), body: { all: true, confirm: -1 } });
    expect(probe.status).toBe(409);
    expect(probe.json()).toMatchObject({ count: 2 });
    const purge = await call(consoleProcess.base, 'dlq/purge', { method: 'POST', headers: authorised(), body: { all: true, confirm: 2 } });
    expect(purge.json()).toMatchObject({ count: 2 });
    expect((await call(consoleProcess.base, 'dlq')).json().items).toEqual([]);
    const logged = await consoleProcess.relay.waitForLog('console: dead letters purged');
    expect(logged).toMatchObject({ action: 'dlq purge', requested: 'all matching', count: 2 });
  });

  it('needs the token to read when bound to a non-loopback address, and refuses to start there without one', async () => {
    const refused = await runRelay(['console', '--console-host', '0.0.0.0'], { ...env, OUTBOX_CONSOLE_TOKEN: '' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing to serve the console on "0.0.0.0" without a token: set OUTBOX_CONSOLE_TOKEN');
    expectNoSecret(refused.stderr);

    const open = await startConsoleProcess(['console', '--console-host', '0.0.0.0'], env);
    try {
      const port = new URL(open.base).port;
      const base = `http://127.0.0.1:${port}`;
      const anonymous = await call(base, 'overview');
      expect(anonymous.status).toBe(401);
      expect(anonymous.json()).toMatchObject({ needsToken: true });
      const withToken = await call(base, 'overview', { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(withToken.status).toBe(200);
      expectNoSecret(withToken.text);
      // The page itself holds no data: it loads, and asks for the token.
      expect((await fetch(`${base}/console/`)).status).toBe(200);
    } finally {
      open.relay.child.kill('SIGTERM');
      await open.relay.exited;
    }
  });

  it('answers only to a loopback Host on loopback (DNS rebinding), and is read-only without a token', async () => {
    const rebound = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(consoleProcess.base);
      request({ hostname, port, path: '/console/api/overview', headers: { host: `attacker.example:${port}` } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
    const readOnly = await startConsoleProcess(['console'], { ...env, OUTBOX_CONSOLE_TOKEN: '' });
    try {
      expect((await call(readOnly.base, 'overview')).json()).toMatchObject({ mutations: false });
      const refused = await call(readOnly.base, 'dead/retry', { method: 'POST', headers: authorised(), body: { all: true, confirm: 2 } });
      expect(refused.status).toBe(403);
      expect(refused.json().error).toContain('read-only');
      expect(await fixture.store(table).stats()).toMatchObject({ dead: 2 });
    } finally {
      readOnly.relay.child.kill('SIGTERM');
      expect((await readOnly.relay.exited).code).toBe(0);
    }
  });
});

describe('outbox-relay console API on MariaDB', { timeout: 120_000 }, () => {
  const mysql = new MysqlFixture();
  let pool: MysqlPool;
  let mnc: NatsConnection;
  let names: { stream: string; dlqStream: string; dlqPrefix: string };

  beforeAll(async () => {
    await mysql.init();
    pool = createPool({ uri: mysql.url, connectionLimit: 2 });
    mnc = await natsConnect();
    names = await seedStreams(mnc, 0);
  });
  afterAll(async () => {
    await pool.end();
    await mysql.dispose();
    await deleteStream(mnc, names.stream);
    await deleteStream(mnc, names.dlqStream);
    await mnc.close();
  });

  it('shows pending and dead events and retries one, with no password in any answer', async () => {
    const store = new MysqlOutboxStore({ pool, table });
    await store.migrate();
    const seeded = await seedOutbox({ store, enqueue: (events) => mysql.enqueue(table, events) }, 6);
    const url = new URL(mysql.url);
    url.password = DB_PASSWORD;
    // MariaDB checks the password: this one is wrong for root, so the console must fail to start
    // and say so without printing it.
    const wrong = await runRelay(['console'], {
      OUTBOX_DATABASE_URL: url.toString(),
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: NATS_URL,
      OUTBOX_STREAM: names.stream,
      OUTBOX_CONSOLE_PORT: '0',
    });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).not.toContain(DB_PASSWORD);

    const started = await startConsoleProcess(['console'], {
      OUTBOX_DATABASE_URL: mysql.url,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: NATS_URL,
      OUTBOX_STREAM: names.stream,
      OUTBOX_DLQ_STREAM: names.dlqStream,
      OUTBOX_DLQ_PREFIX: names.dlqPrefix,
      OUTBOX_CONSOLE_TOKEN: TOKEN,
    });
    try {
      const overview = (await call(started.base, 'overview')).json<Overview>();
      expect(overview.latest).toMatchObject({ pending: 6, dead: 4 });
      expect(overview.labels).toMatchObject({ driver: 'mysql', table });
      expect(overview.dlq).toMatchObject({ messages: 0 });
      const detail = await call(started.base, `dead/${seeded.dead.big.id}`);
      expect(JSON.parse(detail.json().payload as string)).toEqual(BIG_PAYLOAD);
      // This console was given no password; the URL form of one is still masked.
      const leaky = await call(started.base, `dead/${seeded.dead.leaky.id}`);
      expect(leaky.json().lastError).toContain('postgres://app:***@db.internal');
      expect((await call(started.base, 'dead/retry', { method: 'POST', body: { ids: [seeded.dead.script.id], confirm: 1 } })).status).toBe(
        401,
      );
      const retried = await call(started.base, 'dead/retry', {
        method: 'POST',
        headers: authorised(),
        body: { ids: [seeded.dead.script.id], confirm: 1 },
      });
      expect(retried.json()).toMatchObject({ count: 1 });
      expect(await store.stats()).toMatchObject({ pending: 7, dead: 3 });
      await started.relay.waitForLog('console: dead events retried');
    } finally {
      started.relay.child.kill('SIGTERM');
      await started.relay.exited;
    }
  });
});
