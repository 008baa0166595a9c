import { Module } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { SocketDClient, type SocketDClientOptions } from 'nestjs-socketd';
import { BROKER_ENV, DEFAULT_URL, PLAYER_NAME, SAMPLE_TOKEN, URL_ENV } from '../../shared/contract.js';
import { BrokerTripsService } from './broker-trips.service.js';
import { CallbackController } from './callback.controller.js';
import { SOCKETD, SOCKETD_BAD_TOKEN, SOCKETD_NO_TOKEN } from './clients.js';
import { RoundTripsService } from './round-trips.service.js';

const url = process.env[URL_ENV] ?? DEFAULT_URL;

// The token travels in the Connect metas here; `?token=...` in the URL works as well (the bad
// client below uses that). The server sees both as handshake params.
const good: SocketDClientOptions = { url, metas: { token: SAMPLE_TOKEN } };
// Through the broker (run-sample.ts's third pass): the same client addresses the players named
// PLAYER_NAME with meta `@`: every send() goes to one of them (round-robin), every emit() to
// all of them (`sample*`). A record's setTarget() picks another name per call.
if (process.env[BROKER_ENV] !== undefined) Object.assign(good, { target: PLAYER_NAME, eventTarget: `${PLAYER_NAME}*` });
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
  providers: [RoundTripsService, BrokerTripsService],
})
export class AppModule {}
