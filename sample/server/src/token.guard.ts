import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { SocketDContext } from 'nestjs-socketd';
import { BROKER_ENV } from '../../shared/contract.js';
import { tokenOwner } from './auth.js';

/**
 * Lets a message through only when its connection's handshake carried a known token. Nest
 * turns `false` into an RpcException('Forbidden resource'), which reaches the caller as an error.
 */
@Injectable()
export class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    // As a broker player the handshake this server sees is the broker's Connack, not the
    // caller's: the broker checked the caller's token (sample/broker/main.ts), trust it.
    if (process.env[BROKER_ENV] !== undefined) return true;
    const ctx = context.switchToRpc().getContext<SocketDContext>();
    return tokenOwner(ctx.getParam('token')) !== undefined;
  }
}
