import 'reflect-metadata';
import {
  Catch,
  Controller,
  Injectable,
  Module,
  UseFilters,
  UseGuards,
  UseInterceptors,
  UsePipes,
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type NestInterceptor,
  type PipeTransform,
  type RpcExceptionFilter,
} from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException, Transport } from '@nestjs/microservices';
import { finalize, interval, map, NEVER, range, tap, throwError, type Observable } from 'rxjs';
import { SOCKETD_TRANSPORT, SocketDContext } from '../../lib/nest/index.js';
import { deferred } from './nest-test.helpers.js';

/** Handler-side state the tests observe (reset before each test). */
export const state = {
  events: [] as unknown[],
  eventSignal: deferred<unknown>(),
  produced: 0,
  producerStopped: deferred<void>(),
  sawBuffer: false,
  interceptorRan: false,
  reset(): void {
    this.events = [];
    this.eventSignal = deferred<unknown>();
    this.produced = 0;
    this.producerStopped = deferred<void>();
    this.sawBuffer = false;
    this.interceptorRan = false;
  },
};

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    // Refuses unless the payload says otherwise.
    return (context.switchToRpc().getData() as { allow?: boolean })?.allow === true;
  }
}

class DoublePipe implements PipeTransform {
  transform(value: number): number {
    return value * 2;
  }
}

class MarkInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    state.interceptorRan = true;
    return next.handle().pipe(map((value) => ({ wrapped: value })));
  }
}

@Catch()
class TeapotFilter implements RpcExceptionFilter {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => ({ teapot: true, reason: (exception as Error).message }));
  }
}

@Controller()
export class TestController {
  @MessagePattern('sum')
  sum(data: number[]): number {
    return data.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('async-sum')
  async asyncSum(data: number[]): Promise<number> {
    await new Promise((resolve) => setImmediate(resolve));
    return data.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('range')
  range(n: number): Observable<number> {
    return range(0, n);
  }

  @MessagePattern('nothing')
  nothing(_data: unknown): void {}

  @MessagePattern('ticks')
  ticks(_data: unknown): Observable<number> {
    return interval(2).pipe(
      tap(() => state.produced++),
      finalize(() => state.producerStopped.resolve()),
    );
  }

  @MessagePattern('slow')
  async slow(ms: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return `done after ${ms} ms`;
  }

  @MessagePattern('never')
  never(_data: unknown): Observable<never> {
    return NEVER;
  }

  @EventPattern('notify')
  notify(data: unknown): void {
    state.events.push(data);
    state.eventSignal.resolve(data);
  }

  @MessagePattern('rpc-object')
  rpcObject(_data: unknown): never {
    throw new RpcException({ code: 42, message: 'nope' });
  }

  @MessagePattern('rpc-text')
  rpcText(_data: unknown): never {
    throw new RpcException('text');
  }

  @MessagePattern('boom')
  boom(_data: unknown): never {
    throw new Error('kaboom');
  }

  @MessagePattern('stream-error')
  streamError(_data: unknown): Observable<number> {
    return range(0, 3).pipe(
      map((i) => {
        if (i === 2) throw new RpcException({ code: 7, message: 'mid-stream' });
        return i;
      }),
    );
  }

  @UseGuards(DenyGuard)
  @MessagePattern('guarded')
  guarded(_data: unknown): string {
    return 'let in';
  }

  @UsePipes(new DoublePipe())
  @MessagePattern('piped')
  piped(data: number): number {
    return data + 1;
  }

  @UseInterceptors(new MarkInterceptor())
  @MessagePattern('intercepted')
  intercepted(data: string): string {
    return data.toUpperCase();
  }

  @UseFilters(new TeapotFilter())
  @MessagePattern('filtered')
  filtered(_data: unknown): never {
    throw new Error('brewing');
  }

  @MessagePattern('ctx')
  ctx(@Payload() data: unknown, @Ctx() ctx: SocketDContext): unknown {
    return {
      data,
      pattern: ctx.getPattern(),
      sid: ctx.getSid(),
      tenant: ctx.getMeta('tenant'),
      metas: ctx.getMetas(),
      metadata: ctx.getMetadata(),
      path: ctx.getPath(),
      params: ctx.getParams(),
      sessionOpen: ctx.getSession().isOpen,
    };
  }

  @MessagePattern('bytes')
  bytes(data: Buffer): Buffer {
    state.sawBuffer = Buffer.isBuffer(data);
    return data;
  }

  @MessagePattern({ cmd: 'obj', v: 1 })
  objectPattern(data: string): string {
    return `obj:${data}`;
  }

  @MessagePattern('only-sd', SOCKETD_TRANSPORT)
  onlySocketD(_data: unknown): string {
    return 'socket.d';
  }

  @MessagePattern('only-tcp', Transport.TCP)
  onlyTcp(_data: unknown): string {
    return 'tcp';
  }

  @MessagePattern('ask-client')
  async askClient(@Payload() data: unknown, @Ctx() ctx: SocketDContext): Promise<unknown> {
    return { fromClient: await ctx.request('client.ping', data) };
  }
}

@Module({ controllers: [TestController] })
export class TestAppModule {}
