import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { createEvent } from '@outboxkit/outbox-core';
import { CHROMIUM, NATS_URL, PG_URL, waitUntil } from '@outboxkit/test-services';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleUnderTest,
  DB_PASSWORD,
  HOSTILE_SUBJECT,
  type Seeded,
  seedOutbox,
  seedStreams,
  startConsoleProcess,
  TOKEN,
} from './console-fixture.js';
import { readStream } from './nats-stream.js';
import { pgFixtureWithNatsPerFile } from './pg-fixture.js';

/** Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs it). Playwright downloads no browser here. */
const haveChromium = existsSync(CHROMIUM);
// Skipped only on a developer machine without Chromium; in CI a missing browser fails the launch.
const skip = !haveChromium && !process.env.CI;
if (skip) {
  process.stdout.write(
    `console-browser.test.ts SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set OUTBOX_CHROMIUM); CI is not set\n`,
  );
}
/** The page refreshes every 2 s and CI machines are busy: every wait on the page gets 20 s. */
const poll = <T>(read: () => T | Promise<T>, options: { timeout?: number } = {}) => expect.poll(read, { timeout: 20_000, ...options });

/** Screenshots of the main views, kept as CI artefacts (git-ignored). */
const ARTIFACTS = fileURLToPath(new URL('../artifacts/console/', import.meta.url));

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});
const table = 'outbox';

describe.skipIf(skip)('the operator console in a real browser (Chromium, PostgreSQL, NATS)', { timeout: 120_000 }, () => {
  let seeded: Seeded;
  let stream: string;
  let relay: ConsoleUnderTest;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  /** Anything the page's script did that it must not: dialogs opened by injected code, errors. */
  const incidents: string[] = [];

  beforeAll(async () => {
    const store = fixture.store(table);
    await store.migrate();
    seeded = await seedOutbox({ store, enqueue: (events) => fixture.enqueue(table, events) }, 9);
    const names = await seedStreams(nc, 2);
    stream = names.stream;
    streams.push(names.stream, names.dlqStream);
    const url = new URL(PG_URL);
    url.username = url.username || 'postgres';
    url.password = DB_PASSWORD;
    relay = await startConsoleProcess(['run', '--console'], {
      OUTBOX_DATABASE_URL: url.toString(),
      OUTBOX_SCHEMA: fixture.schema,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: NATS_URL,
      OUTBOX_STREAM: names.stream,
      OUTBOX_SUBJECT_PREFIX: names.stream,
      OUTBOX_DLQ_STREAM: names.dlqStream,
      OUTBOX_DLQ_PREFIX: names.dlqPrefix,
      // A dead event holds back its subject: the hostile subject's 3 later events stay pending.
      OUTBOX_BLOCK_SUBJECT: 'true',
      OUTBOX_METRICS_ADDR: 'off',
      OUTBOX_CONSOLE_TOKEN: TOKEN,
    });
    profile = mkdtempSync(join(tmpdir(), 'outbox-console-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (dialog) => {
      incidents.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => incidents.push(`page error: ${error.message}`));
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    relay?.relay.child.kill('SIGTERM');
  });

  /** Nothing planted in the data ran: no flag set, no dialog, no error, no element made from it. */
  async function expectNothingRan(): Promise<void> {
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    expect(incidents).toEqual([]);
  }

  it('shows the backlog held behind a dead event and the dead events, hostile text as text', async () => {
    await page.goto(`${relay.base}/console/`);
    await poll(() => page.locator('#pending').textContent()).toBe('3');
    await poll(() => page.locator('#dead-count').textContent()).toBe('4');
    const deadRows = page.locator('#dead-table tbody tr');
    await poll(() => deadRows.count()).toBe(4);
    // The subject is a cell's text, exactly; the backlog and waiting tables show it the same way.
    await poll(() => page.locator('#dead-table td', { hasText: HOSTILE_SUBJECT }).count()).toBe(1);
    expect(await page.locator('#backlog-table td', { hasText: HOSTILE_SUBJECT }).count()).toBe(1);
    expect(await page.locator('#waiting-table td', { hasText: HOSTILE_SUBJECT }).count()).toBe(1);
    // The last error's escape character is shown as \x1b, not sent to the page raw.
    expect(await page.locator('#dead-table').textContent()).toContain('\\x1b[31mred');
    // The database URL and its password appear nowhere in the page.
    const text = await page.locator('body').textContent();
    expect(text).not.toContain(DB_PASSWORD);
    expect(text).toContain('postgres://app:***@db.internal');
    await expectNothingRan();

    // The chart draws once two samples of the stream exist; its figures are also text. Attached,
    // not visible: a flat line (the same rate in every sample) has no height, so Playwright calls
    // it hidden although it is drawn.
    await page.locator('#chart polyline').waitFor({ state: 'attached', timeout: 20_000 });
    expect(await page.locator('#chart svg').getAttribute('role')).toBe('img');
    expect(await page.locator('#chart-desc').textContent()).toMatch(/Messages stored in the stream per second: now/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-overview.png'), fullPage: true });
  });

  it('shows a <script> payload and a 1 MB payload as text, the big one cut with a "Show all"', async () => {
    await page.getByRole('button', { name: `Show dead event ${seeded.dead.script.id}` }).click();
    const payload = page.locator('#detail pre[aria-label="Payload"]');
    await poll(() => payload.textContent()).toContain('<script>window.__pwned=2</script>');
    // JSON escapes the C0 controls itself; the page escapes what JSON leaves raw (the bidi override).
    expect(await payload.textContent()).toContain('bell\\u0007 esc\\u001b[2J rtl\\u202eevil');
    expect(await payload.textContent()).not.toContain('\u202e');
    expect(await page.locator('#detail td', { hasText: '<b>bold</b>' }).count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'console-dead-event.png') });
    await page.keyboard.press('Escape');
    await poll(() => page.locator('#detail').evaluate((node) => (node as unknown as { open: boolean }).open)).toBe(false);

    await page.getByRole('button', { name: `Show dead event ${seeded.dead.big.id}` }).click();
    const big = page.locator('#detail pre[aria-label="Payload"]');
    await poll(async () => (await big.textContent())?.length).toBe(4096);
    await page.getByRole('button', { name: /^Show all \(/ }).click();
    await poll(async () => (await big.textContent())?.length).toBe(JSON.stringify({ blob: 'x'.repeat(1_000_000) }).length);
    await page.locator('#detail-close').click();
    await expectNothingRan();
  });

  it('shows pending counts that change live', async () => {
    const more = [1, 2].map((n) =>
      createEvent({ type: 'test.item.changed', source: 'console-test', subject: HOSTILE_SUBJECT, data: { more: n } }),
    );
    await fixture.enqueue(table, more);
    await poll(() => page.locator('#pending').textContent()).toBe('5');
  });

  it('refuses a mutation without the token (the page asks for it; the API answers 401)', async () => {
    await page.getByRole('checkbox', { name: `Select dead event ${seeded.dead.hostile.id}` }).check();
    await page.locator('#dead-retry-selected').click();
    await poll(() => page.locator('#status').textContent()).toContain('Enter the console token above first');
    const status = await page.evaluate(async (id) => {
      const response = await fetch('api/dead/retry', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ids: [id], confirm: 1 }),
      });
      return response.status;
    }, seeded.dead.hostile.id);
    expect(status).toBe(401);
    expect(await fixture.store(table).stats()).toMatchObject({ pending: 5, dead: 4 });
  });

  it('retries one dead event through the page with the token and a confirmation; the relay publishes it', async () => {
    await page.locator('#token').fill(TOKEN);
    await page.locator('#operator').fill('browser test');
    await page.locator('#session button[type="submit"]').click();
    await poll(() => page.locator('#status').textContent()).toContain('Token set');
    const box = page.getByRole('checkbox', { name: `Select dead event ${seeded.dead.hostile.id}` });
    if (!(await box.isChecked())) await box.check();
    await page.locator('#dead-retry-selected').click();
    const dialog = page.locator('#confirm');
    await poll(() => dialog.evaluate((node) => (node as unknown as { open: boolean }).open)).toBe(true);
    expect(await page.locator('#confirm-text').textContent()).toContain('Retry 1 dead event?');
    await page.screenshot({ path: join(ARTIFACTS, 'console-confirm.png') });
    await page.locator('#confirm-ok').click();
    await poll(() => page.locator('#status').textContent()).toContain('Retry: 1 done');
    // Published: the event is in the stream under its id, and the 4 events it held back follow.
    await waitUntil('the retried event in the stream', async () =>
      (await readStream(nc, stream)).some((message) => message.msgId === seeded.dead.hostile.id),
    );
    await poll(() => page.locator('#pending').textContent()).toBe('0');
    await poll(() => page.locator('#dead-count').textContent()).toBe('3');
    const line = await relay.relay.waitForLog('console: dead events retried');
    expect(line).toMatchObject({ count: 1, requested: 1, who: { operator: 'browser test' } });
  });

  it('reaches the actions by keyboard, and opens and closes a detail with Enter and Escape', async () => {
    await page.reload();
    await poll(() => page.locator('#dead-table tbody tr').count()).toBe(3);
    const reached = new Set<string>();
    for (let i = 0; i < 80 && !reached.has('dlq-purge-all'); i++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => {
        type Active = { id: string; textContent: string | null; getAttribute(name: string): string | null };
        const active = (globalThis as unknown as { document: { activeElement: Active | null } }).document.activeElement;
        return active?.id || active?.getAttribute('aria-label') || active?.textContent?.trim() || '';
      });
      reached.add(id);
    }
    for (const id of [
      'token',
      'dead-retry-selected',
      'dead-purge-all',
      `Show dead event ${seeded.dead.script.id}`,
      'dlq-replay-selected',
      'dlq-purge-all',
    ]) {
      expect(reached, id).toContain(id);
    }
    await page.getByRole('button', { name: `Show dead event ${seeded.dead.script.id}` }).focus();
    await page.keyboard.press('Enter');
    await poll(() => page.locator('#detail').evaluate((node) => (node as unknown as { open: boolean }).open)).toBe(true);
    await page.keyboard.press('Escape');
    await poll(() => page.locator('#detail').evaluate((node) => (node as unknown as { open: boolean }).open)).toBe(false);
  });

  it('shows the consumers dead letters and the stream state, hostile subject as text', async () => {
    await poll(() => page.locator('#dlq-table tbody tr').count()).toBe(2);
    expect(await page.locator('#dlq-table td', { hasText: HOSTILE_SUBJECT }).count()).toBe(1);
    await poll(() => page.locator('#consumers-table td', { hasText: 'basket' }).count()).toBe(1);
    expect(await page.locator('#stream-summary').textContent()).toContain(stream);
    await page.locator('#dlq').scrollIntoViewIfNeeded();
    await page.locator('#dlq').screenshot({ path: join(ARTIFACTS, 'console-dead-letters.png') });
    await expectNothingRan();
  });

  it('purges only after the confirmation, which shows the count', async () => {
    await page.locator('#dead-purge-all').click();
    await poll(() => page.locator('#confirm-text').textContent()).toContain('Purge 3 dead events for good?');
    await page.locator('#confirm-cancel').click();
    await poll(() => page.locator('#status').textContent()).toContain('Cancelled');
    expect(await fixture.store(table).stats()).toMatchObject({ dead: 3 });
    await page.locator('#dead-purge-all').click();
    await poll(() => page.locator('#confirm-text').textContent()).toContain('Purge 3 dead events for good?');
    await page.locator('#confirm-ok').click();
    await poll(() => page.locator('#status').textContent()).toContain('Purge: 3 done');
    expect(await fixture.store(table).stats()).toMatchObject({ dead: 0 });
    await poll(() => page.locator('#dead-table tbody').textContent()).toContain('No dead events.');
    await expectNothingRan();
  });
});
