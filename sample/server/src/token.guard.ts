import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { SocketDContext } from 'nestjs-socketd';
import { tokenOwner } from './auth.js';

/**
 * Lets a message through only when its connection's handshake carried a known token. Nest
 * turns `false` into an RpcException('Forbidden resource'), which reaches the caller as an error.
 */
@Injectable()
export class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const ctx = context.switchToRpc().getContext<SocketDContext>();
    return tokenOwner(ctx.getParam('token')) !== undefined;
  }
}
