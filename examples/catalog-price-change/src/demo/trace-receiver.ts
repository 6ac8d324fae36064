import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as the services' OTLP/HTTP exporters sent it. */
export interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, string | number>>;
  readonly links: readonly { traceId: string; spanId: string }[];
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
}
interface OtlpBody {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        startTimeUnixNano: string | number;
        endTimeUnixNano: string | number;
        attributes?: { key: string; value: OtlpValue }[];
        links?: { traceId: string; spanId: string }[];
      }[];
    }[];
  }[];
}

const attributes = (list: { key: string; value: OtlpValue }[] | undefined): Record<string, string | number> =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, value.stringValue ?? Number(value.intValue)]));

/**
 * A small OTLP/HTTP (JSON) receiver on a free loopback port: the demo points every service's
 * exporter at it (`OTEL_EXPORTER_OTLP_ENDPOINT`) and reads the spans back to print a trace.
 */
export class TraceReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<TraceReceiver> {
    let receiver: TraceReceiver | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.url === '/v1/traces' && receiver) receiver.#add(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpBody);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    receiver = new TraceReceiver(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #add(body: OtlpBody): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = String(attributes(resourceSpans.resource?.attributes)['service.name'] ?? '?');
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            startNs: BigInt(span.startTimeUnixNano),
            endNs: BigInt(span.endTimeUnixNano),
            attributes: attributes(span.attributes),
            links: span.links ?? [],
          });
        }
      }
    }
  }
}

/** One printed line of a trace: the span, its depth, and whether it hangs by a link rather than as a child. */
export interface TraceLine {
  readonly span: ReceivedSpan;
  readonly depth: number;
  readonly linked: boolean;
}

/**
 * The tree under `root`: children by parent span id, in start order; a span of another trace that
 * links to one of the tree's spans (the relay's batch of several events) hangs under it, marked.
 */
export function traceTree(spans: readonly ReceivedSpan[], root: ReceivedSpan): TraceLine[] {
  const lines: TraceLine[] = [];
  const visit = (span: ReceivedSpan, depth: number, linked: boolean): void => {
    lines.push({ span, depth, linked });
    const children = spans.filter((candidate) => candidate.traceId === span.traceId && candidate.parentSpanId === span.spanId);
    const linking = spans.filter(
      (candidate) =>
        candidate.traceId !== span.traceId && candidate.links.some((link) => link.spanId === span.spanId && link.traceId === span.traceId),
    );
    for (const child of [...children, ...linking].sort((a, b) => (a.startNs < b.startNs ? -1 : 1))) {
      visit(child, depth + 1, !children.includes(child));
    }
  };
  visit(root, 0, false);
  return lines;
}
