import type { CliLogger } from './logger.js';

/** The OTLP export of the relay's spans and metrics, running until `shutdown` flushes it. */
export interface OtlpExport {
  /** Flushes what is buffered and stops exporting; never throws. */
  shutdown(): Promise<void>;
}

/** True when the standard OpenTelemetry variables ask for an OTLP export (and the SDK is not disabled). */
export function otlpRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = `${env.OTEL_TRACES_EXPORTER ?? ''},${env.OTEL_METRICS_EXPORTER ?? ''}`.toLowerCase();
  return Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT ||
      env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
      env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ||
      /\botlp\b/.test(exporters),
  );
}

/**
 * Registers an OpenTelemetry tracer and meter provider exporting over OTLP/HTTP (JSON) when the
 * standard variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`, `..._TRACES_ENDPOINT`,
 * `..._METRICS_ENDPOINT`, or `otlp` in `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`); the
 * exporters read their endpoint, headers, timeout and compression from the environment themselves,
 * the resource comes from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (service name
 * `outbox-relay` by default), and `OTEL_METRIC_EXPORT_INTERVAL` sets the metrics interval (60 s).
 * `OTEL_TRACES_EXPORTER=none` or `OTEL_METRICS_EXPORTER=none` leaves that signal out. Otherwise
 * nothing is loaded. Call it before creating the `Relay`: core makes its instruments then.
 */
export async function startOtlpExport(env: NodeJS.ProcessEnv, logger: CliLogger): Promise<OtlpExport | undefined> {
  if (!otlpRequested(env)) return undefined;
  const [api, { BasicTracerProvider, BatchSpanProcessor }, { MeterProvider, PeriodicExportingMetricReader }, resources] = await Promise.all(
    [
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/resources'),
    ],
  );
  const resource = resources
    .resourceFromAttributes({ 'service.name': 'outbox-relay' })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const closers: Array<() => Promise<void>> = [];
  const signals: string[] = [];
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() !== 'none') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
    api.trace.setGlobalTracerProvider(provider);
    closers.push(() => provider.shutdown());
    signals.push('traces');
  }
  if (env.OTEL_METRICS_EXPORTER?.trim().toLowerCase() !== 'none') {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter(),
      exportIntervalMillis: Number.isInteger(interval) && interval > 0 ? interval : 60_000,
    });
    const provider = new MeterProvider({ resource, readers: [reader] });
    api.metrics.setGlobalMeterProvider(provider);
    closers.push(() => provider.shutdown());
    signals.push('metrics');
  }
  logger.info({ signals }, 'OpenTelemetry: exporting over OTLP/HTTP as the OTEL_* environment asks');
  return {
    async shutdown() {
      for (const close of closers) {
        try {
          await close();
        } catch (error) {
          logger.warn({ err: error }, 'OpenTelemetry: the last export failed');
        }
      }
    },
  };
}
