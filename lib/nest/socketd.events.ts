import type { ReceivedMessage, Session } from '../session/types.js';

/**
 * Status of a {@link SocketDServer} (`connected` while listening, `disconnected` once closed or
 * when listening failed) and of a {@link SocketDClient} (every value, mirroring the engine's
 * `ClientStatus`).
 */
export enum SocketDStatus {
  CONNECTING = 'connecting',
  CONNECTED = 'connected',
  DISCONNECTED = 'disconnected',
  RECONNECTING = 'reconnecting',
  CLOSED = 'closed',
}

/** Event names of {@link SocketDEvents}. */
export enum SocketDEventsMap {
  LISTENING = 'listening',
  OPEN = 'open',
  CLOSING = 'closing',
  CLOSE = 'close',
  ALARM = 'alarm',
  STATUS = 'status',
  ERROR = 'error',
}

/**
 * Events of the Socket.D server and client, for `server.on()` / `app.on()` / `client.on()`.
 * Listeners added before `listen()` / `connect()` are kept.
 * - `listening` (server): the listener is up.
 * - `open`: a session completed its handshake (server: each client; client: each (re)connect).
 * - `closing`: the peer sent Close 1000 (it will close soon).
 * - `close`: a session closed, with its close code and, for failures, the error.
 * - `alarm`: an Alarm for no pending stream (including requester cancellations the engine
 *   did not match), or a Pressure frame.
 * - `status`: a status change.
 * - `error`: a transport error that did not fail a particular call.
 */
export type SocketDEvents = {
  listening: () => void;
  open: (session: Session) => void;
  closing: (session: Session) => void;
  close: (session: Session, code: number, err?: Error) => void;
  alarm: (session: Session, alarm: ReceivedMessage) => void;
  status: (status: SocketDStatus) => void;
  error: (err: Error) => void;
};
