/**
 * OpenTelemetry for the example's services, on only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the
 * demo sets it to a receiver of its own): spans go over OTLP/HTTP as they end. outboxkit does the
 * rest: `enqueue` stores the request's context with the event, the relay and Basket's consumer
 * continue the trace. A real service would register `pg` and `mysql2` auto-instrumentation here;
 * the example writes the spans of its two UPDATEs by hand (`inSpan`) to stay dependency-light.
 */
import { type Attributes, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/** Starts tracing when the environment asks for it; returns what flushes and stops it. */
export async function startTracing(service: string): Promise<() => Promise<void>> {
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) return async () => undefined;
  const [{ context }, { AsyncLocalStorageContextManager }, { BasicTracerProvider, SimpleSpanProcessor }, { OTLPTraceExporter }, resources] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? service }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
  });
  trace.setGlobalTracerProvider(provider);
  return () => provider.shutdown();
}

/** Runs `work` inside a span of its own (a no-op without tracing), recording a failure. */
export function inSpan<T>(name: string, attributes: Attributes, work: () => Promise<T>, kind = SpanKind.INTERNAL): Promise<T> {
  return trace.getTracer('catalog-price-change').startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}
