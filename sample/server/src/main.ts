import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SocketDServer } from 'nestjs-socketd';
import { BROKER_ENV, DEFAULT_URL, INSTANCE_ENV, METRICS_PORT_ENV, PLAYER_NAME, URL_ENV, WEB_PORT_ENV } from '../../shared/contract.js';
import { AppModule } from './app.module.js';
import { requireToken } from './auth.js';
import { serveMetrics } from './metrics.js';
import { startHybrid } from './web.js';

async function bootstrap(): Promise<void> {
  const url = process.env[URL_ENV] ?? DEFAULT_URL;
  const broker = process.env[BROKER_ENV];
  // Prometheus scrapes the engine's metrics here (README, "Observability"); 'off' serves none.
  const metricsPort = process.env[METRICS_PORT_ENV] ?? '9464';
  if (metricsPort !== 'off') await serveMetrics(Number(metricsPort));
  // Broker topology: connect OUT to the broker as a player named PLAYER_NAME (no listening
  // port; the link reconnects by itself); otherwise listen on `url`.
  const strategy = broker === undefined
    ? new SocketDServer({ url, onHandshake: requireToken, gracePeriod: 2_000, fragmentSize: 64 * 1024 })
    : new SocketDServer({ player: { urls: broker, name: PLAYER_NAME, reconnectDelay: 100 }, gracePeriod: 2_000 });
  // Listening directly, the server is a hybrid app: it also serves the browser page
  // (sample/web) over HTTP on SOCKETD_WEB_PORT; as a broker player it is a plain microservice.
  let app: INestApplicationContext;
  let page: string | undefined;
  if (broker === undefined) {
    const hybrid = await startHybrid(strategy, url, Number(process.env[WEB_PORT_ENV] ?? 8080));
    app = hybrid.app;
    page = hybrid.pageUrl;
  } else {
    const microservice = await NestFactory.createMicroservice(AppModule, { strategy, logger: ['error', 'warn'] });
    await microservice.listen();
    app = microservice;
  }

  // Graceful stop: let in-flight handlers finish, close the sessions, then exit.
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (closing) return;
      closing = true;
      app.close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error('[server] close failed:', err);
          process.exit(1);
        },
      );
    });
  }

  const where = broker === undefined ? `listening on ${url}` : `instance ${process.env[INSTANCE_ENV]} (pid ${process.pid}) playing '${PLAYER_NAME}' at ${broker}`;
  console.log(`[server] ${where}${page === undefined ? '' : `; page at ${page}`}`);
  // run-sample.ts forks this file and waits for this message before starting the client.
  process.send?.({ ready: broker ?? url });
}

bootstrap().catch((err: unknown) => {
  console.error('[server] failed to start:', err);
  process.exit(1);
});
