import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { AsyncMicroserviceOptions } from '@nestjs/microservices';
import { SocketDClient, SocketDClientStrategy } from 'nestjs-socketd';
import { BROKER_ENV } from '../../shared/contract.js';
import { AppModule } from './app.module.js';
import { BrokerTripsService } from './broker-trips.service.js';
import { SOCKETD } from './clients.js';
import { RoundTripsService } from './round-trips.service.js';

async function main(): Promise<number> {
  // A microservice whose "transport" is the SOCKETD client's own connection: the server can
  // call the CallbackController's handlers over it. listen() connects the client.
  const app = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(AppModule, {
    inject: [SOCKETD],
    useFactory: (client: SocketDClient) => ({ strategy: new SocketDClientStrategy(client) }),
    logger: ['error', 'warn'],
  });
  try {
    await app.listen();
    const trips = process.env[BROKER_ENV] === undefined ? app.get(RoundTripsService) : app.get(BrokerTripsService);
    const report = await trips.run();
    console.log(`  ${report.passed} passed, ${report.failed} failed`);
    return report.failed === 0 ? 0 : 1;
  } finally {
    await app.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`  ✗ client app failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
