import type { LoggerService } from '@nestjs/common';
import type { Handshake, Metas, ServerOptions } from '../session/types.js';
import type { SocketDEmit } from './socketd.event-emitter.js';

type Hooks = Pick<ServerOptions, 'onHandshake' | 'onError'>;

/**
 * The server's engine hooks as Nest users expect them, around the user's own:
 * - `onHandshake`: a refused client (the hook returned false, threw or rejected) is logged
 *   through the strategy's Nest logger with its remote address and path;
 * - `onError`: an error of the listening transport is emitted as the strategy's `error`
 *   event, then handed to the user's `onError`.
 */
export function withServerHooks<T extends Hooks>(options: T, logger: LoggerService, emit: SocketDEmit): T {
  const user = options.onHandshake;
  const hooks: Hooks = {
    onError: (err: Error) => {
      emit('error', err);
      options.onError?.(err);
    },
  };
  if (user !== undefined) hooks.onHandshake = logRefusals(user, logger);
  return { ...options, ...hooks };
}

type HandshakeHook = NonNullable<ServerOptions['onHandshake']>;

function logRefusals(hook: HandshakeHook, logger: LoggerService): HandshakeHook {
  const refused = (handshake: Handshake, remote: string | undefined, why: string): void => {
    logger.warn(`Socket.D: refused handshake from ${remote ?? 'an unknown address'} (path ${handshake.path}): ${why}`);
  };
  // A throw or rejection becomes `false` once logged: the engine refuses the same way (Close 1001)
  // without logging it a second time.
  return (handshake: Handshake, outMetas: Metas, remote: string | undefined) => {
    let verdict: ReturnType<HandshakeHook>;
    try {
      verdict = hook(handshake, outMetas, remote);
    } catch (err) {
      refused(handshake, remote, `onHandshake threw: ${describe(err)}`);
      return false;
    }
    if (verdict instanceof Promise) {
      return verdict.then(
        (ok) => {
          if (ok === false) refused(handshake, remote, 'onHandshake returned false');
          return ok;
        },
        (err: unknown) => {
          refused(handshake, remote, `onHandshake rejected: ${describe(err)}`);
          return false;
        },
      );
    }
    if (verdict === false) refused(handshake, remote, 'onHandshake returned false');
    return verdict;
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
