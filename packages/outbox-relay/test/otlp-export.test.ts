import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvent } from '@outboxkit/outbox-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { runRelay } from './relay-process.js';

// The relay child connects to NATS itself; the file's connection only deletes its streams afterwards.
const { fixture, streams } = pgFixtureWithNatsPerFile(() => undefined);

/** What an OTLP/HTTP exporter sent: the decoded JSON bodies, by path. */
const received: Record<string, unknown[]> = {};
let receiver: Server;
let endpoint: string;

// A small OTLP/HTTP receiver: the exporters post JSON to /v1/traces and /v1/metrics.
beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      received[path] = [...(received[path] ?? []), JSON.parse(Buffer.concat(chunks).toString('utf8'))];
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number };
}
interface OtlpSpan {
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
  links?: { traceId: string; spanId: string }[];
}
const attr = (attributes: OtlpAttribute[] | undefined, key: string) => {
  const value = attributes?.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
};

describe('outbox-relay run: OTLP export when the OTEL_* environment asks for it', { timeout: 60_000 }, () => {
  it("exports the relay's send span (linked to the events' creation contexts) and its metrics, with the service name", async () => {
    const { table, stream, env } = pgRelaySetup(fixture, streams);
    expect((await runRelay(['migrate'], env)).code).toBe(0);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const spanIds = ['00f067aa0ba902b7', '00f067aa0ba902b8', '00f067aa0ba902b9'];
    const events = spanIds.map((spanId, index) =>
      createEvent({
        type: 'test.item.changed',
        source: 'otlp-test',
        subject: `item-${index}`,
        data: { index },
        headers: { traceparent: `00-${traceId}-${spanId}-01` },
      }),
    );
    await fixture.enqueue(table, events);

    const run = await runRelay(['run', '--once'], {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: 'relay-under-test',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('exporting over OTLP/HTTP');

    const spans = (received['/v1/traces'] ?? []).flatMap((body) =>
      (
        body as { resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }
      ).resourceSpans.flatMap((resourceSpans) =>
        resourceSpans.scopeSpans.flatMap((scope) => scope.spans.map((span) => ({ span, resource: resourceSpans.resource }))),
      ),
    );
    const sends = spans.filter(({ span }) => span.name.startsWith('send'));
    expect(sends).toHaveLength(1);
    const send = sends[0] as (typeof sends)[number];
    expect(send.span.name).toBe(`send ${stream.toLowerCase()}.test.item.changed`);
    expect(attr(send.resource.attributes, 'service.name')).toBe('relay-under-test');
    expect(attr(send.span.attributes, 'messaging.system')).toBe('nats');
    expect(attr(send.span.attributes, 'messaging.batch.message_count')).toBe(3);
    expect((send.span.links ?? []).map((link) => [link.traceId, link.spanId]).sort()).toEqual(spanIds.map((spanId) => [traceId, spanId]));

    const metrics = (received['/v1/metrics'] ?? []).flatMap((body) =>
      (
        body as {
          resourceMetrics: {
            scopeMetrics: {
              metrics: {
                name: string;
                sum?: { dataPoints: { asInt?: string | number; asDouble?: number; attributes: OtlpAttribute[] }[] };
              }[];
            }[];
          }[];
        }
      ).resourceMetrics.flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics)),
    );
    const sent = metrics
      .filter((metric) => metric.name === 'messaging.client.sent.messages')
      .flatMap((metric) => metric.sum?.dataPoints ?? []);
    expect(
      sent
        .filter((point) => attr(point.attributes, 'outboxkit.outcome') === 'published')
        .map((point) => Number(point.asInt ?? point.asDouble)),
    ).toEqual([3]);
  });
});
