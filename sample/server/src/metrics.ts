import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { loadOpenTelemetry } from 'nestjs-socketd';

/**
 * Serves the engine's metrics (README, "Observability") for Prometheus to scrape at
 * `http://<host>:<port>/metrics`. Call it before the server listens: sessions record only
 * when a meter provider is registered as they open.
 */
export async function serveMetrics(port: number, host = '127.0.0.1'): Promise<PrometheusExporter> {
  const exporter = new PrometheusExporter({ port, host });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));
  await loadOpenTelemetry(); // nestjs-socketd picks @opentelemetry/api up in the background; be sure
  return exporter;
}
