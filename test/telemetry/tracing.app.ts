import 'reflect-metadata';
import { Controller, Inject, Module, type DynamicModule } from '@nestjs/common';
import { EventPattern, MessagePattern, RpcException } from '@nestjs/microservices';
import { trace } from '@opentelemetry/api';
import { interval, lastValueFrom, range, type Observable } from 'rxjs';
import { SocketDClient } from '../../lib/nest/index.js';

export const INVENTORY = 'INVENTORY';

/** What the handlers saw of the active span (the server span the engine opened). */
export const activeSeen: { traceId?: string; spanId?: string } = {};

/** The first service: calls the second one from inside its handler. */
@Controller()
class OrdersController {
  constructor(@Inject(INVENTORY) private readonly inventory: SocketDClient) {}

  @MessagePattern('order')
  async order(id: number): Promise<{ id: number; stock: number }> {
    const span = trace.getActiveSpan();
    activeSeen.traceId = span?.spanContext().traceId;
    activeSeen.spanId = span?.spanContext().spanId;
    const stock = await lastValueFrom(this.inventory.send<number>('stock', id));
    return { id, stock };
  }

  @MessagePattern('items')
  items(n: number): Observable<number> {
    return range(0, n);
  }

  @MessagePattern('forever')
  forever(): Observable<number> {
    return interval(5);
  }

  @MessagePattern('slow')
  async slow(ms: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return 'late';
  }

  @MessagePattern('refuse')
  refuse(): never {
    throw new RpcException({ code: 4001, message: 'out of stock' });
  }

  @EventPattern('noted')
  noted(_data: unknown): void {}
}

@Controller()
class InventoryController {
  @MessagePattern('stock')
  stock(id: number): number {
    return id * 10;
  }
}

/** The orders service; its client reaches inventory at `url` (a broker: with `target`). */
export function ordersModule(url: string, target?: string): DynamicModule {
  @Module({ controllers: [OrdersController], providers: [{ provide: INVENTORY, useFactory: () => new SocketDClient({ url, target }) }] })
  class OrdersModule {}
  return { module: OrdersModule };
}

@Module({ controllers: [InventoryController] })
export class InventoryModule {}
