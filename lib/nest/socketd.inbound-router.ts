import type { LoggerService } from '@nestjs/common';
import type { ReceivedMessage, Session } from '../session/types.js';
import { NO_MESSAGE_HANDLER } from './socketd.constants.js';
import { sendNestAlarm } from './socketd.error-codec.js';
import { nestDebugEnabled } from './socketd.log-levels.js';

/** Receives the Messages, Requests and Subscribes the server starts (see {@link SocketDClientStrategy}). */
export type SocketDInboundHandler = (session: Session, message: ReceivedMessage) => void;

/**
 * Routes the Messages, Requests and Subscribes a server starts on a {@link SocketDClient}'s
 * connection (Socket.D sessions are bidirectional) to the handler set, one at a time.
 * Without one, Requests and Subscribes are answered with Nest's "no matching message handler"
 * Alarm and Messages are dropped (logged at debug level when Nest's levels ask for it).
 */
export class InboundRouter {
  /** Where inbound messages go; undefined for Nest's answers above. */
  handler: SocketDInboundHandler | undefined;

  /** `logger` is read when something is logged (a subclass of the client may set its own). */
  constructor(private readonly logger: () => LoggerService) {}

  /** The engine's `onMessage`. */
  readonly route = (session: Session, message: ReceivedMessage): void => {
    if (this.handler) {
      this.handler(session, message);
      return;
    }
    if (message.isRequest) {
      sendNestAlarm(session, message, NO_MESSAGE_HANDLER, this.logger());
    } else {
      if (nestDebugEnabled()) this.logger().debug?.(`Socket.D: no handler for the server's message '${message.event}'`);
    }
  };
}
