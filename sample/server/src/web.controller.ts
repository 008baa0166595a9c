import { Controller, UseGuards } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { createHash } from 'node:crypto';
import { finalize, interval, map, take, type Observable } from 'rxjs';
import type { SocketDContext } from 'nestjs-socketd';
import { WebPatterns, type CounterState } from '../../shared/contract.js';
import { TokenGuard } from './token.guard.js';

/** Largest `/web/download`: 8 MiB. */
const MAX_DOWNLOAD = 8 * 1024 * 1024;

/** Byte `i` of a `/web/download` (the page checks every byte). */
export function patternByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}

/** What the browser page (sample/web) calls over sd:ws. */
@UseGuards(TokenGuard)
@Controller()
export class WebController {
  private readonly counter: CounterState = { running: false, count: 0 };

  /** Stream: each count is a Reply; a cancel from the page unsubscribes (finalize runs). */
  @MessagePattern(WebPatterns.counter)
  count(@Payload() query: { every?: number; to?: number }): Observable<number> {
    this.counter.running = true;
    this.counter.count = 0;
    return interval(Math.max(5, query?.every ?? 50)).pipe(
      take(Math.min(query?.to ?? 10_000, 100_000)),
      map((i) => (this.counter.count = i + 1)),
      finalize(() => { this.counter.running = false; }),
    );
  }

  @MessagePattern(WebPatterns.counterState)
  counterState(): CounterState {
    return { ...this.counter };
  }

  /** The page's file, reassembled from its fragments by the engine. */
  @MessagePattern(WebPatterns.upload)
  upload(@Payload() data: Uint8Array): { bytes: number; sha256: string } {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(0);
    return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  /** Raw bytes back (Data-Type octet-stream), fragmented on the way when over fragmentSize. */
  @MessagePattern(WebPatterns.download)
  download(@Payload() query: { size?: number }): Buffer {
    const size = Math.max(0, Math.min(query?.size ?? 0, MAX_DOWNLOAD));
    const out = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) out[i] = patternByte(i);
    return out;
  }

  /** Answers at once, then pushes `count` Messages to the caller (server push). */
  @MessagePattern(WebPatterns.push)
  push(@Payload() query: { count?: number }, @Ctx() ctx: SocketDContext): string {
    const count = Math.min(query?.count ?? 3, 20);
    for (let n = 1; n <= count; n++) {
      setTimeout(() => {
        ctx.emit(WebPatterns.news, { n, of: count, at: new Date().toISOString() }).catch(() => undefined);
      }, n * 100);
    }
    return `pushing ${count}`;
  }
}
