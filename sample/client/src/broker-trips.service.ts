import { Inject, Injectable } from '@nestjs/common';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { SocketDRecordBuilder } from 'nestjs-socketd';
import { PLAYER_NAME, Patterns, type InstanceInfo, type User } from '../../shared/contract.js';
import { SOCKETD } from './clients.js';
import { Report } from './report.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The round trips of the broker topology: two server instances play under PLAYER_NAME at a
 * broker; this client (option `target`) calls them through it. Midway it asks run-sample.ts
 * (over the fork IPC channel) to SIGKILL one instance; every later call must be answered by
 * the other.
 */
@Injectable()
export class BrokerTripsService {
  constructor(@Inject(SOCKETD) private readonly client: ClientProxy) {}

  async run(): Promise<Report> {
    const report = new Report();
    const seen = new Map<string, InstanceInfo>();
    await report.check(
      `round-robin    ${Patterns.instance} ×4 → instances`,
      async () => {
        for (let i = 0; i < 4; i++) {
          const info = await this.instance();
          seen.set(info.instance, info);
        }
        return [...seen.keys()].sort();
      },
      ['A', 'B'],
    );
    await report.check(
      `setTarget      ${Patterns.getUser} {id:2} @=${PLAYER_NAME}`,
      () => firstValueFrom(this.client.send<User>(Patterns.getUser, new SocketDRecordBuilder({ id: 2 }).setTarget(PLAYER_NAME).build())),
      { id: 2, name: 'Alan Turing' },
    );
    await report.check(
      `handler error  ${Patterns.getUser} {id:99}`,
      () => errorText(firstValueFrom(this.client.send<User>(Patterns.getUser, { id: 99 }))),
      'no user 99',
    );
    await report.check(
      `stream         ${Patterns.ticks} {count:5}`,
      () => lastValueFrom(this.client.send<number>(Patterns.ticks, { count: 5 }).pipe(toArray())),
      [1, 2, 3, 4, 5],
    );
    await report.check(
      `cancel         ${Patterns.ticks} {count:1000}, take 3`,
      async () => {
        const got = await lastValueFrom(this.client.send<number>(Patterns.ticks, { count: 1_000 }).pipe(take(3), toArray()));
        // Unsubscribing cancels the stream at the player through the broker: its handler stops.
        const infos = await this.untilEvery((info) => info.activeStreams === 0);
        return { got, running: infos.reduce((n, info) => n + info.activeStreams, 0) };
      },
      { got: [1, 2, 3], running: 0 },
    );
    await report.check(
      `emit to all    ${Patterns.audit} @=${PLAYER_NAME}*`,
      async () => {
        await lastValueFrom(this.client.emit(Patterns.audit, { action: 'broker-run', by: 'sample-client' }), { defaultValue: undefined });
        const infos = await this.untilEvery((info) => info.audits >= 1);
        return infos.filter((info) => info.audits >= 1).map((info) => info.instance).sort();
      },
      ['A', 'B'],
    );

    const victim = [...seen.values()][0]!;
    const survivor = [...seen.values()].find((info) => info !== victim)!;
    await report.check(`kill           instance ${victim.instance} (pid ${victim.pid}) with SIGKILL`, () => this.kill(victim.instance), 'killed');
    await report.check(
      `failover       ${Patterns.instance} ×6 after the kill`,
      async () => {
        const answers = new Set<string>();
        for (let i = 0; i < 6; i++) answers.add((await this.instance()).instance);
        return [...answers];
      },
      [survivor.instance],
    );
    return report;
  }

  private instance(): Promise<InstanceInfo> {
    return firstValueFrom(this.client.send<InstanceInfo>(Patterns.instance, {}));
  }

  /**
   * Asks both instances (round-robin: enough calls to reach each) until every one satisfies
   * `done`, for up to 3 s; resolves with the last answer of each.
   */
  private async untilEvery(done: (info: InstanceInfo) => boolean): Promise<InstanceInfo[]> {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const latest = new Map<string, InstanceInfo>();
      for (let i = 0; i < 4; i++) {
        const info = await this.instance();
        latest.set(info.instance, info);
      }
      const failing = [...latest.values()].filter((info) => !done(info));
      if ((failing.length === 0 && latest.size === 2) || Date.now() > deadline) return [...latest.values()];
      await sleep(20);
    }
  }

  /** run-sample.ts kills the instance and answers once it exited. */
  private kill(instance: string): Promise<string> {
    return new Promise((resolve, reject) => {
      if (process.send === undefined) {
        reject(new Error('not started by run-sample.ts (no IPC channel)'));
        return;
      }
      const onMessage = (message: { killed?: string }): void => {
        if (message.killed !== instance) return;
        process.off('message', onMessage);
        // The broker sees the dead link close right away; give it a moment to drop the player.
        sleep(300).then(() => resolve('killed'));
      };
      process.on('message', onMessage);
      process.send({ kill: instance });
    });
  }
}

/** The text of a call's error (an RpcException's message; the broker relays it as the Alarm text). */
async function errorText(call: Promise<unknown>): Promise<unknown> {
  try {
    return { unexpectedly: await call };
  } catch (err) {
    if (err instanceof Error) return err.message;
    return (err as { message?: unknown })?.message ?? err;
  }
}
