import type { Handshake } from 'nestjs-socketd';
import { SAMPLE_TOKEN } from '../../shared/contract.js';

/** Tokens this server knows, and whom they belong to. A real app would ask its auth service. */
const TOKENS: ReadonlyMap<string, string> = new Map([[SAMPLE_TOKEN, 'sample-client']]);

/** The owner of a token, or undefined when it is unknown. */
export function tokenOwner(token: string | undefined): string | undefined {
  return token === undefined ? undefined : TOKENS.get(token);
}

/**
 * SocketDServer's `onHandshake`: runs once per connection, before any handler. Anonymous
 * clients (no `token` in the URL query or Connect metas) never get a session; whether the
 * token is any good is the TokenGuard's call, per message.
 */
export function requireToken(handshake: Handshake): boolean {
  return handshake.params['token'] !== undefined;
}
