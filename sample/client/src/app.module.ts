import { Module } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { SocketDClient, type SocketDClientOptions } from 'nestjs-socketd';
import { DEFAULT_URL, SAMPLE_TOKEN, URL_ENV } from '../../shared/contract.js';
import { CallbackController } from './callback.controller.js';
import { SOCKETD, SOCKETD_BAD_TOKEN, SOCKETD_NO_TOKEN } from './clients.js';
import { RoundTripsService } from './round-trips.service.js';

const url = process.env[URL_ENV] ?? DEFAULT_URL;

// The token travels in the Connect metas here; `?token=...` in the URL works as well (the bad
// client below uses that). The server sees both as handshake params.
const good: SocketDClientOptions = { url, metas: { token: SAMPLE_TOKEN } };
// The two clients meant to fail should not retry.
const badToken: SocketDClientOptions = { url: `${url}?token=stolen`, autoReconnect: false };
const noToken: SocketDClientOptions = { url, autoReconnect: false };

@Module({
  imports: [
    ClientsModule.register([
      { name: SOCKETD, customClass: SocketDClient, options: good },
      { name: SOCKETD_BAD_TOKEN, customClass: SocketDClient, options: badToken },
      { name: SOCKETD_NO_TOKEN, customClass: SocketDClient, options: noToken },
    ]),
  ],
  // Serves what the server asks this client (see main.ts: SocketDClientStrategy).
  controllers: [CallbackController],
  providers: [RoundTripsService],
})
export class AppModule {}
