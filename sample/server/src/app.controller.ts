import { Controller, UseGuards } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { finalize, interval, map, take, type Observable } from 'rxjs';
import type { SocketDContext } from 'nestjs-socketd';
import { INSTANCE_ENV, Patterns, type AuditEntry, type ClientIdentity, type InstanceInfo, type User } from '../../shared/contract.js';
import { AuditService } from './audit.service.js';
import { TokenGuard } from './token.guard.js';

const USERS: readonly User[] = [
  { id: 1, name: 'Ada Lovelace' },
  { id: 2, name: 'Alan Turing' },
];

@UseGuards(TokenGuard)
@Controller()
export class AppController {
  private activeStreams = 0;

  constructor(private readonly audit: AuditService) {}

  /** Request/reply: a plain return value is the one reply. */
  @MessagePattern(Patterns.getUser)
  getUser(@Payload() query: { id: number }): User {
    const user = USERS.find((u) => u.id === query.id);
    if (user === undefined) throw new RpcException({ status: 'error', message: `no user ${query.id}` });
    return user;
  }

  /** Stream: each value of the Observable is a Reply; completion is the ReplyEnd. */
  @MessagePattern(Patterns.ticks)
  ticks(@Payload() query: { count: number }): Observable<number> {
    this.activeStreams++;
    return interval(10).pipe(
      take(query.count),
      map((i) => i + 1),
      // Runs on completion and when the caller unsubscribes (the stream is cancelled).
      finalize(() => this.activeStreams--),
    );
  }

  /** Which instance answered (broker topology: several instances play under one name). */
  @MessagePattern(Patterns.instance)
  instance(): InstanceInfo {
    return { instance: process.env[INSTANCE_ENV] ?? 'direct', pid: process.pid, audits: this.audit.count, activeStreams: this.activeStreams };
  }

  /** Event: nothing goes back to the sender. */
  @EventPattern(Patterns.audit)
  record(@Payload() entry: AuditEntry): void {
    this.audit.record(entry);
  }

  @MessagePattern(Patterns.auditCount)
  auditCount(): number {
    return this.audit.count;
  }

  /** Calls back into the client over the same connection before answering. */
  @MessagePattern(Patterns.greet)
  async greet(@Payload() _data: unknown, @Ctx() ctx: SocketDContext): Promise<string> {
    const who = await ctx.request<ClientIdentity>(Patterns.whoAmI, { asker: 'sample-server' });
    return `Hello, ${who.name} (pid ${who.pid})!`;
  }
}
