import type { ClientOptions, ReceivedMessage, ServerOptions, Session, SessionListener } from '../session/types.js';
import { ENGINE_LOGGER_CONTEXT } from './socketd.constants.js';
import type { SocketDEmit } from './socketd.event-emitter.js';
import { nestEngineLogger } from './socketd.log-levels.js';
import { NEST_OPTION_ALIASES } from './socketd.options.js';

/**
 * The engine's options for a strategy ({@link SocketDServer}) or the client
 * ({@link SocketDClient}), from the user's options:
 * - without the keys only the Nest layer reads (`nestOnly`), Nest's names of ours as ours
 *   (`tlsOptions` as `tls`), and without any `onMessage` of the
 *   user's: received messages go to `onMessage`, which routes them to Nest handlers;
 * - Nest's `Logger('SocketDEngine')` unless the options give a `logger` (its debug lines only
 *   when Nest's levels ask for them, see `nestDebugEnabled`);
 * - the session listeners emit their event (`open`, `closing`, `close`, `alarm`) first, then
 *   run the user's own.
 */
export function engineOptions<E extends ServerOptions | ClientOptions>(
  options: Omit<E, 'onMessage'>,
  nestOnly: readonly string[],
  onMessage: (session: Session, message: ReceivedMessage) => void,
  emit: SocketDEmit,
): E {
  const engine: Record<string, unknown> = { logger: nestEngineLogger(ENGINE_LOGGER_CONTEXT) };
  for (const [key, value] of Object.entries(options)) {
    if (key !== 'onMessage' && !nestOnly.includes(key)) engine[(NEST_OPTION_ALIASES as Record<string, string | undefined>)[key] ?? key] = value;
  }
  return { ...engine, onMessage, ...sessionListeners(options as SessionListener, emit) } as E;
}

type EmittedListeners = Required<Pick<SessionListener, 'onOpen' | 'onClosing' | 'onClose' | 'onAlarm'>>;

// Each listener emits its event, then runs the user's listener of the same name (read at call time).
function sessionListeners(user: SessionListener, emit: SocketDEmit): EmittedListeners {
  return {
    onOpen: (session) => {
      emit('open', session);
      user.onOpen?.(session);
    },
    onClosing: (session) => {
      emit('closing', session);
      user.onClosing?.(session);
    },
    onClose: (session, code, err) => {
      emit('close', session, code, err);
      user.onClose?.(session, code, err);
    },
    onAlarm: (session, alarm) => {
      emit('alarm', session, alarm);
      user.onAlarm?.(session, alarm);
    },
  };
}
