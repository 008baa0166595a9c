import { Inject, Injectable } from '@nestjs/common';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { Patterns, type User } from '../../shared/contract.js';
import { SOCKETD, SOCKETD_BAD_TOKEN, SOCKETD_NO_TOKEN } from './clients.js';
import { Report, rejectionOf } from './report.js';

/** Each round trip the sample shows, against the server at the configured URL. */
@Injectable()
export class RoundTripsService {
  constructor(
    @Inject(SOCKETD) private readonly client: ClientProxy,
    @Inject(SOCKETD_BAD_TOKEN) private readonly badTokenClient: ClientProxy,
    @Inject(SOCKETD_NO_TOKEN) private readonly noTokenClient: ClientProxy,
  ) {}

  async run(): Promise<Report> {
    const report = new Report();
    await report.check(
      `request/reply  ${Patterns.getUser} {id:1}`,
      () => firstValueFrom(this.client.send<User>(Patterns.getUser, { id: 1 })),
      { id: 1, name: 'Ada Lovelace' },
    );
    await report.check(
      `handler error  ${Patterns.getUser} {id:99}`,
      () => rejectionOf(firstValueFrom(this.client.send<User>(Patterns.getUser, { id: 99 }))),
      { status: 'error', message: 'no user 99' },
    );
    await report.check(
      `stream         ${Patterns.ticks} {count:5}`,
      () => lastValueFrom(this.client.send<number>(Patterns.ticks, { count: 5 }).pipe(toArray())),
      [1, 2, 3, 4, 5],
    );
    await report.check(`event          ${Patterns.audit}, then ${Patterns.auditCount}`, () => this.audit(), 1);
    await report.check(
      `server→client  ${Patterns.greet} (asks ${Patterns.whoAmI})`,
      () => firstValueFrom(this.client.send<string>(Patterns.greet, {})),
      `Hello, sample-client (pid ${process.pid})!`,
    );
    await report.check(
      `guard          ${Patterns.getUser} with a bad token`,
      () => rejectionOf(firstValueFrom(this.badTokenClient.send<User>(Patterns.getUser, { id: 1 }))),
      { status: 'error', message: 'Forbidden resource' },
    );
    await report.check(
      'handshake      connect without a token',
      () => rejectionOf(firstValueFrom(this.noTokenClient.send<User>(Patterns.getUser, { id: 1 }))),
      'SOCKETD_ERR_HANDSHAKE_REJECTED',
    );
    return report;
  }

  /** Emits an audit event, then asks the server how many it got: 1 more than before. */
  private async audit(): Promise<number> {
    const count = () => firstValueFrom(this.client.send<number>(Patterns.auditCount, {}));
    const before = await count();
    await lastValueFrom(this.client.emit(Patterns.audit, { action: 'sample-run', by: 'sample-client' }), { defaultValue: undefined });
    // An event has no reply, so nothing orders it before the next request's handler: poll briefly.
    const deadline = Date.now() + 2_000;
    let after = await count();
    while (after === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await count();
    }
    return after - before;
  }
}
