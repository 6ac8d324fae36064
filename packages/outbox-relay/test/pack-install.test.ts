import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NATS_URL, PG_URL } from '@outboxkit/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteStream, natsConnect } from './nats-stream.js';
import { randomName } from './random-name.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const packages = ['outbox-core', 'outbox-pg', 'outbox-mysql', 'bus-nats', 'outbox-relay'];
// Outside the workspace, so nothing resolves through the repository's node_modules.
const project = mkdtempSync(join(tmpdir(), 'outboxkit-quickstart-'));
const schema = randomName('quickstart');
const stream = randomName('QUICKSTART').toUpperCase();
// Only what npm needs: no npm_config_* of a surrounding `npm test` (workspace flags) leaks in.
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? project, npm_config_update_notifier: 'false' };

afterAll(async () => {
  const nc = await natsConnect();
  await deleteStream(nc, stream);
  await nc.close();
  rmSync(project, { recursive: true, force: true });
});

// The quick start of the README, as a user would write it against the published packages.
const quickstart = `
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createEvent, Relay } from '@outboxkit/outbox-core';
import { PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { NatsPublisher, ensureStream } from '@outboxkit/bus-nats';

const [databaseUrl, natsUrl, schema, stream] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: databaseUrl });
const store = new PgOutboxStore({ pool, schema, listen: false });
await store.migrate();
const event = createEvent({ type: 'catalog.product.price-changed', source: 'catalog', subject: 'product-42', data: { price: 1999 } });
await transaction(pool, async (client) => {
  await store.enqueue(client, event);
});
const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
const prefix = stream.toLowerCase();
await ensureStream(nc, { name: stream, subjects: [prefix + '.>'] });
const relay = new Relay({ store, publisher: new NatsPublisher({ connection: nc, subjectPrefix: prefix }) });
const totals = await relay.drain();
const jsm = await jetstreamManager(nc);
const stored = await jsm.streams.getMessage(stream, { seq: 1 });
console.log(JSON.stringify({ totals, id: event.id, msgId: stored.header.get('Nats-Msg-Id'), subject: stored.subject }));
await nc.drain();
await pool.query('DROP SCHEMA "' + schema + '" CASCADE');
await pool.end();
`;

describe('the packed packages, installed outside the workspace', { timeout: 180_000 }, () => {
  it('install from their tarballs and run the quick start: one event enqueued on PostgreSQL reaches the stream', async () => {
    const tarballs = join(project, 'tarballs');
    mkdirSync(tarballs);
    await run('npm', ['pack', '--silent', '--pack-destination', tarballs, ...packages.flatMap((name) => ['-w', `packages/${name}`])], {
      cwd: repoRoot,
      env,
    });
    const files = readdirSync(tarballs).filter((file) => file.endsWith('.tgz'));
    expect(files).toHaveLength(packages.length);

    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'quickstart', private: true, type: 'module' }));
    writeFileSync(join(project, 'quickstart.mjs'), quickstart);
    // The third-party dependencies come from npm's local cache (--prefer-offline), the registry only on a miss.
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        ...files.map((file) => join(tarballs, file)),
        'pg@^8',
        '@nats-io/transport-node@~3.3.1',
        '@nats-io/jetstream@~3.3.1',
      ],
      { cwd: project, env },
    );

    const { stdout } = await run(process.execPath, ['quickstart.mjs', PG_URL, NATS_URL, schema, stream], { cwd: project, env });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result.totals).toMatchObject({ published: 1, dead: 0 });
    expect(result.msgId).toBe(result.id);
    expect(result.subject).toBe(`${stream.toLowerCase()}.catalog.product.price-changed`);

    const help = await run(join(project, 'node_modules', '.bin', 'outbox-relay'), ['--help'], { cwd: project, env });
    expect(help.stdout).toContain('Usage: outbox-relay <command>');
  });
});
