/**
 * A real Prometheus server (Debian's `prometheus`; .ci/run installs it) scrapes the sample
 * server's metrics endpoint (sample/server/src/metrics.ts) and answers a query for the calls
 * counter. Needs `npm run build` (the sample imports `nestjs-socketd`). Loaded by prometheus.spec.ts.
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lastValueFrom } from 'rxjs';
import { freePort } from '../browser/browser-helpers.js';

const PROMETHEUS = process.env['PROMETHEUS_PATH'] ?? '/usr/bin/prometheus'; // as prometheus.spec.ts
const { SocketDServer, SocketDClient } = await import('nestjs-socketd');
const { serveMetrics } = await import('../../sample/server/src/metrics.js');
const { startHybrid } = await import('../../sample/server/src/web.js');
const { requireToken } = await import('../../sample/server/src/auth.js');
const { Patterns, SAMPLE_TOKEN } = await import('../../sample/shared/contract.js');

async function query(port: number, promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`Prometheus answered ${JSON.stringify(body)}`);
  return body.data.result;
}

describe('Prometheus scrapes the sample server', () => {
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let promPort: number;
  let metricsPort: number;
  let app: { close(): Promise<void> } | undefined;
  let client: InstanceType<typeof SocketDClient> | undefined;
  let exporter: { shutdown(): Promise<void> } | undefined;
  let log = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'socketd-prom-'));
    metricsPort = await freePort();
    exporter = await serveMetrics(metricsPort);
    const url = `sd:tcp://127.0.0.1:${await freePort()}`;
    ({ app } = await startHybrid(new SocketDServer({ url, onHandshake: requireToken, logger: false }), url, 0));
    promPort = await freePort();
    writeFileSync(path.join(dir, 'prometheus.yml'), [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: socketd-sample',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${metricsPort}']`,
      '',
    ].join('\n'));
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    prometheus.stderr!.on('data', (chunk: Buffer) => { log = (log + chunk.toString()).slice(-4000); });
    client = new SocketDClient({ url: `${url}?token=${SAMPLE_TOKEN}` });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await exporter?.shutdown();
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('answers a query for the calls counter with a value > 0', async () => {
    for (let i = 0; i < 3; i++) expect(typeof (await lastValueFrom(client!.send(Patterns.auditCount, {})))).toBe('number');
    let result: Awaited<ReturnType<typeof query>> = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        result = await query(promPort, `sum(socketd_calls_total{socketd_event="${Patterns.auditCount}",socketd_role="server"})`);
        if (result.length > 0 && Number(result[0]!.value[1]) > 0) break;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (result.length === 0) throw new Error(`no sample from Prometheus; its log:\n${log}`);
    expect(Number(result[0]!.value[1])).toBe(3);
  }, 90_000);
});
