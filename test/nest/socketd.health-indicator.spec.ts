import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Module, type INestApplication, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheck, HealthCheckService, TerminusModule, type HealthCheckResult } from '@nestjs/terminus';
import { SocketDServer } from '../../lib/nest/index.js';
import { SocketDHealthIndicator } from '../../lib/nest/socketd.health-indicator.js';
import { TestAppModule } from './nest-test.app.js';

let port = 0;

@Controller()
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly socketd: SocketDHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.socketd.pingCheck('socketd', { host: '127.0.0.1', port, timeout: 1_000 })]);
  }
}

@Module({ imports: [TerminusModule.forRoot({ logger: false })], controllers: [HealthController], providers: [SocketDHealthIndicator] })
class HealthModule {}

describe('SocketDHealthIndicator with @nestjs/terminus', () => {
  let service: INestMicroservice;
  let http: INestApplication;
  let base: string;

  beforeAll(async () => {
    const strategy = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0' });
    service = await NestFactory.createMicroservice(TestAppModule, { strategy, logger: false });
    await service.listen();
    port = strategy.address()!.port;
    http = await NestFactory.create(HealthModule, { logger: false });
    await http.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(http.getHttpServer().address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await http.close();
    await service.close();
  });

  it('is up while the server listens, down once it stopped', async () => {
    const up = await fetch(`${base}/health`);
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({ status: 'ok', info: { socketd: { status: 'up' } } });

    await service.close();
    const down = await fetch(`${base}/health`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as { status: string; error: { socketd: { status: string; message: string } } };
    expect(body.status).toBe('error');
    expect(body.error.socketd.status).toBe('down');
    expect(body.error.socketd.message).toMatch(/ECONNREFUSED|connect/i);
  });
});
