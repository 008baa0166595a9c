import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { SocketDServer } from 'nestjs-socketd';
import { DEFAULT_URL, URL_ENV } from '../../shared/contract.js';
import { AppModule } from './app.module.js';
import { requireToken } from './auth.js';

async function bootstrap(): Promise<void> {
  const url = process.env[URL_ENV] ?? DEFAULT_URL;
  const app = await NestFactory.createMicroservice(AppModule, {
    strategy: new SocketDServer({ url, onHandshake: requireToken, gracePeriod: 2_000 }),
    logger: ['error', 'warn'],
  });
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

  console.log(`[server] listening on ${url}`);
  // run-sample.ts forks this file and waits for this message before starting the client.
  process.send?.({ ready: url });
}

bootstrap().catch((err: unknown) => {
  console.error('[server] failed to start:', err);
  process.exit(1);
});
