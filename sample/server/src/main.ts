import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { SocketDServer } from 'nestjs-socketd';
import { BROKER_ENV, DEFAULT_URL, INSTANCE_ENV, PLAYER_NAME, URL_ENV } from '../../shared/contract.js';
import { AppModule } from './app.module.js';
import { requireToken } from './auth.js';

async function bootstrap(): Promise<void> {
  const url = process.env[URL_ENV] ?? DEFAULT_URL;
  const broker = process.env[BROKER_ENV];
  // Broker topology: connect OUT to the broker as a player named PLAYER_NAME (no listening
  // port; the link reconnects by itself); otherwise listen on `url`.
  const strategy = broker === undefined
    ? new SocketDServer({ url, onHandshake: requireToken, gracePeriod: 2_000 })
    : new SocketDServer({ player: { urls: broker, name: PLAYER_NAME, reconnectDelay: 100 }, gracePeriod: 2_000 });
  const app = await NestFactory.createMicroservice(AppModule, { strategy, logger: ['error', 'warn'] });
  await app.listen();

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
  console.log(`[server] ${where}`);
  // run-sample.ts forks this file and waits for this message before starting the client.
  process.send?.({ ready: broker ?? url });
}

bootstrap().catch((err: unknown) => {
  console.error('[server] failed to start:', err);
  process.exit(1);
});
