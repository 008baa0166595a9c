import { BaseRpcContext } from '@nestjs/microservices';
import type { Handshake, Metas, ReceivedMessage, Session } from '../session/types.js';
import { RESERVED_METAS } from './socketd.constants.js';
import type { SocketDRecordOptions } from './socketd.record-builder.js';

/** What a context uses to call back the client with the strategy's codec. */
export interface SocketDPeer {
  requestTo<T = unknown>(session: Session, pattern: string, data?: unknown, options?: SocketDRecordOptions): Promise<T>;
  emitTo(session: Session, pattern: string, data?: unknown, metas?: Metas): Promise<void>;
}

/** Arguments of a {@link SocketDContext}: the session, the received message, its event, the strategy. */
export type SocketDContextArgs = [session: Session, message: ReceivedMessage, pattern: string, peer?: SocketDPeer];

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The context of a Socket.D Message, Request or Subscribe, injected with `@Ctx()`.
 *
 * `getSession()` is the connection the message came in on: push to that client with
 * `session.send()` or ask it something with `session.request()`.
 */
export class SocketDContext extends BaseRpcContext<SocketDContextArgs> {
  private metadata: Readonly<Record<string, string>> | undefined;

  /** The session (connection) the message arrived on. */
  getSession(): Session {
    return this.args[0];
  }

  /** The received message: flag, sid, event, metas, raw data. */
  getMessage(): ReceivedMessage {
    return this.args[1];
  }

  /**
   * Runs `fn` with each Alarm the requester sends on this Request/Subscribe that is not a
   * cancel (a cancel ends the handler's stream instead). The stream stays open.
   */
  onAlarm(fn: (alarm: ReceivedMessage) => void): void {
    this.args[1].onAlarm(fn);
  }

  /** The pattern: the message's event (an object pattern arrives as its normalised JSON). */
  getPattern(): string {
    return this.args[2];
  }

  /** The message's event (same as {@link getPattern}). */
  getEvent(): string {
    return this.args[1].event;
  }

  /** The stream id (sid) of the message. */
  getSid(): string {
    return this.args[1].sid;
  }

  /** One meta of the message, or undefined. */
  getMeta(name: string): string | undefined {
    return this.args[1].meta(name);
  }

  /** Every meta of the message, the transport's own (`Data-Type`, ...) included. */
  getMetas(): Readonly<Metas> {
    return this.args[1].metas;
  }

  /**
   * Nest packet metadata (what the client's `setOnDispatchHook` put in `packet.metadata`): the
   * message's metas without the transport's own keys (`Data-Type`, `Data-Length`, ...).
   */
  getMetadata(): Readonly<Record<string, string>> {
    if (this.metadata !== undefined) return this.metadata;
    const message = this.args[1];
    if (message.metaString.length === 0) return (this.metadata = NO_METADATA);
    const metas = message.metas;
    const out: Record<string, string> = {};
    for (const key of Object.keys(metas)) {
      if (!RESERVED_METAS.has(key)) out[key] = metas[key]!;
    }
    return (this.metadata = out);
  }

  /** The session's handshake: URL, path, params (query merged with Connect metas). */
  getHandshake(): Handshake {
    return this.args[0].handshake;
  }

  /** The handshake path (`/` when empty). */
  getPath(): string {
    return this.args[0].handshake.path;
  }

  /** One handshake param (a query parameter of the client's URL or a Connect meta). */
  getParam(name: string): string | undefined {
    return this.args[0].handshake.params[name];
  }

  /** Every handshake param. */
  getParams(): Readonly<Metas> {
    return this.args[0].handshake.params;
  }

  /**
   * Sends a Request to this client (served by its `SocketDClientStrategy` handlers) and
   * resolves with the decoded answer.
   */
  request<T = unknown>(pattern: string, data?: unknown, options?: SocketDRecordOptions): Promise<T> {
    return this.peer().requestTo<T>(this.args[0], pattern, data, options);
  }

  /** Sends a Message to this client (its `@EventPattern` handlers). */
  emit(pattern: string, data?: unknown, metas?: Metas): Promise<void> {
    return this.peer().emitTo(this.args[0], pattern, data, metas);
  }

  private peer(): SocketDPeer {
    const peer = this.args[3];
    if (peer === undefined) throw new Error('SocketDContext: no strategy to send through (context built by hand)');
    return peer;
  }
}
