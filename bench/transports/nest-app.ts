/**
 * The Nest application both Nest rows serve (built-in TCP and our SocketDServer): the same
 * controller, so the rows differ only by transport.
 */
import { Controller, Module } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { range } from 'rxjs';
import { countEvent, eventCount, payloadBytes } from '../server-state.js';

@Controller()
export class BenchController {
  @MessagePattern('echo')
  echo(data: unknown): unknown {
    return data;
  }

  @EventPattern('ev')
  ev(_data: unknown): void {
    countEvent();
  }

  @MessagePattern('count')
  count(_data: unknown): number {
    return eventCount();
  }

  @MessagePattern('stream')
  stream(n: number) {
    return range(0, Number(n));
  }

  /** 1 MiB echo: returns the payload as received (base64 string over Nest TCP, Buffer over Socket.D). */
  @MessagePattern('buf')
  buf(data: unknown): unknown {
    return data;
  }

  /** 1 GiB transfer: answers with the received byte length only. */
  @MessagePattern('put')
  put(data: unknown): number {
    return payloadBytes(data);
  }
}

@Module({ controllers: [BenchController] })
export class BenchAppModule {}
