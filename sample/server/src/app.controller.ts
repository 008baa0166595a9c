import { Controller, UseGuards } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { interval, map, take, type Observable } from 'rxjs';
import type { SocketDContext } from 'nestjs-socketd';
import { Patterns, type AuditEntry, type ClientIdentity, type User } from '../../shared/contract.js';
import { AuditService } from './audit.service.js';
import { TokenGuard } from './token.guard.js';

const USERS: readonly User[] = [
  { id: 1, name: 'Ada Lovelace' },
  { id: 2, name: 'Alan Turing' },
];

@UseGuards(TokenGuard)
@Controller()
export class AppController {
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
    return interval(10).pipe(
      take(query.count),
      map((i) => i + 1),
    );
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
