import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { MessagePattern, RpcException } from '@nestjs/microservices';
import { concat, finalize, interval, map, NEVER, of, take, timer, type Observable } from 'rxjs';
import { deferred } from './nest-test.helpers.js';

/** Handler-side state of the interop tests (reset before each test). */
export const interopState = {
  received: [] as unknown[],
  hangStopped: deferred<void>(),
  reset(): void {
    this.received = [];
    this.hangStopped = deferred<void>();
  },
};

/** What a handler received: its type as Nest code would test it, and the value. */
export interface Described {
  type: 'string' | 'buffer' | 'object' | 'number' | 'boolean' | 'null' | 'undefined' | 'other';
  value: unknown;
}

export function describeValue(data: unknown): Described {
  if (Buffer.isBuffer(data)) return { type: 'buffer', value: [...data] };
  if (data === null) return { type: 'null', value: null };
  const t = typeof data;
  if (t === 'string' || t === 'number' || t === 'boolean' || t === 'undefined' || t === 'object') return { type: t, value: data };
  return { type: 'other', value: String(data) };
}

/** Handlers for the interop tests (kept out of the shared TestAppModule). */
@Controller()
export class InteropController {
  /** Returns what it got, as it got it. */
  @MessagePattern('echo')
  echo(data: unknown): unknown {
    interopState.received.push(data);
    return data;
  }

  /** Says what it got. */
  @MessagePattern('describe')
  describe(data: unknown): Described {
    return describeValue(data);
  }

  /** A plain string answer. */
  @MessagePattern('greet')
  greet(name: string): string {
    return `hello ${name}`;
  }

  /** Fails with a numeric code. */
  @MessagePattern('user.get')
  userGet(_data: unknown): never {
    throw new RpcException({ code: 4001, message: 'no such user' });
  }

  /** Fails with a code that is no integer: no `code` meta. */
  @MessagePattern('user.bad-code')
  userBadCode(_data: unknown): never {
    throw new RpcException({ code: 'E_NO_USER', message: 'no such user' });
  }

  /** Never answers; says when it is unsubscribed. */
  @MessagePattern('hang')
  hang(_data: unknown): Observable<never> {
    return NEVER.pipe(finalize(() => interopState.hangStopped.resolve()));
  }

  /** One value at once, then nothing more and no end. */
  @MessagePattern('first-then-hang')
  firstThenHang(_data: unknown): Observable<number> {
    return concat(of(1), NEVER);
  }

  /** `n` values 100 ms apart (the first after 100 ms). */
  @MessagePattern('slow-stream')
  slowStream(n: number): Observable<number> {
    return interval(100).pipe(take(n));
  }

  /** One value after `ms` ms. */
  @MessagePattern('late')
  late(ms: number): Observable<string> {
    return timer(ms).pipe(map(() => `after ${ms} ms`));
  }
}

@Module({ controllers: [InteropController] })
export class InteropAppModule {}
