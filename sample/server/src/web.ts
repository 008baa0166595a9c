import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SocketDServer } from 'nestjs-socketd';
import { AppModule } from './app.module.js';

/** The repository root (this file runs from sample/ under jest, from dist-sample/ when built). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !readFileSync(join(dir, 'package.json'), 'utf8').includes('"name": "nestjs-socketd"')) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

/** A running hybrid app: the Socket.D microservice plus the HTTP server of the page. */
export interface HybridApp {
  readonly app: NestExpressApplication;
  /** `http://127.0.0.1:<port>/`: the page. */
  readonly pageUrl: string;
}

/**
 * The server as a hybrid app: Socket.D on `url` (the strategy) and, on `webPort`, the page
 * of sample/web, the browser bundle (dist/browser, built by `npm run build`) under /lib/, and
 * /config.json telling the page which Socket.D URL to dial (only an `sd:ws` one works there).
 */
export async function startHybrid(strategy: SocketDServer, url: string, webPort: number, host = '127.0.0.1'): Promise<HybridApp> {
  const root = repoRoot();
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { logger: ['error', 'warn'] });
  app.connectMicroservice({ strategy }, { inheritAppConfig: true });
  app.useStaticAssets(join(root, 'sample/web'), { index: 'index.html' });
  app.useStaticAssets(join(root, 'dist/browser'), { prefix: '/lib/' });
  const ws = /^(sd:)?wss?:/i.test(url);
  app.getHttpAdapter().get('/config.json', (_req: unknown, res: { json(body: unknown): void }) => {
    res.json({ url: ws ? url : null, note: ws ? undefined : `this server listens on ${url}; the page needs sd:ws (SOCKETD_URL=sd:ws://127.0.0.1:8602)` });
  });
  await app.startAllMicroservices();
  await app.listen(webPort, host);
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return { app, pageUrl: `http://${host}:${port}/` };
}
