import 'reflect-metadata';
import { Controller, Inject, Module, type Type } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { finalize, interval, range, tap, type Observable } from 'rxjs';
import type { SocketDContext } from '../../lib/nest/index.js';
import { deferred } from './nest-test.helpers.js';

/** Which instance of a player app answered. */
export const INSTANCE = 'INSTANCE';

/** What each player instance saw, by instance id (reset per test). */
export const seen = {
  events: [] as { id: string; data: unknown }[],
  produced: new Map<string, number>(),
  stopped: new Map<string, ReturnType<typeof deferred<void>>>(),
  reset(): void {
    this.events = [];
    this.produced.clear();
    this.stopped.clear();
  },
  stoppedOf(id: string): ReturnType<typeof deferred<void>> {
    let d = this.stopped.get(id);
    if (d === undefined) this.stopped.set(id, (d = deferred<void>()));
    return d;
  },
};

/** The handlers one player instance serves (its id comes from the INSTANCE provider). */
@Controller()
export class PlayerController {
  constructor(@Inject(INSTANCE) private readonly id: string) {}

  @MessagePattern('whoami')
  whoami(@Payload() _data: unknown, @Ctx() ctx: SocketDContext): { id: string; target: string | undefined } {
    return { id: this.id, target: ctx.getMeta('@') };
  }

  @MessagePattern('sum')
  sum(data: number[]): number {
    return data.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('range')
  range(n: number): Observable<number> {
    return range(0, n);
  }

  @MessagePattern('ticks')
  ticks(_data: unknown): Observable<number> {
    const stopped = seen.stoppedOf(this.id);
    return interval(5).pipe(
      tap(() => seen.produced.set(this.id, (seen.produced.get(this.id) ?? 0) + 1)),
      finalize(() => stopped.resolve()),
    );
  }

  @MessagePattern('slow')
  async slow(ms: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return `done after ${ms} ms`;
  }

  @MessagePattern('fail')
  fail(_data: unknown): never {
    throw new RpcException({ code: 42, message: 'nope' });
  }

  @EventPattern('notify')
  notify(data: unknown): void {
    seen.events.push({ id: this.id, data });
  }
}

/** A module serving {@link PlayerController} as instance `id`. */
export function playerModule(id: string): Type<unknown> {
  @Module({ controllers: [PlayerController], providers: [{ provide: INSTANCE, useValue: id }] })
  class PlayerModule {}
  return PlayerModule;
}
