import { isSocketDError, socketDError, SocketDError } from '../protocol/errors.js';
import { SdClient } from '../session/client.js';
import { DEFAULTS } from '../session/options.js';
import type {
  ClientOptions, ClientStatus, Metas, ReceivedMessage, Session, StreamHandle,
} from '../session/types.js';
import { ReceivedBrowserMessage, type BrowserMessage } from './browser-message.js';

export type { BrowserMessage };

/** Bytes or text, as a browser has them. Text goes as UTF-8. */
export type BrowserPayload = string | Uint8Array | ArrayBuffer;

/** A Request, Subscribe or Message the server sent to this page. */
export interface BrowserInbound extends BrowserMessage {
  /** True for Request and Subscribe: the server waits for an answer. */
  readonly isRequest: boolean;
  /** A Reply (a Subscribe may get several). */
  reply(data?: BrowserPayload, metas?: Metas): void;
  /** The last Reply. A handler's returned value (when not undefined) is sent as this. */
  replyEnd(data?: BrowserPayload, metas?: Metas): void;
  /** Fails the server's call with `text`. */
  alarm(text: string): void;
}

/** Answers what the server sends on one event; see `SocketDBrowserClient.on`. */
export type InboundHandler = (message: BrowserInbound) => BrowserPayload | void | Promise<BrowserPayload | void>;

/** Callbacks of one Subscribe. */
export interface BrowserObserver {
  /** Each value: every Reply, and the data of a ReplyEnd that carries some (upstream peers may end that way). */
  next?(reply: BrowserMessage): void;
  /**
   * The stream ended; it never carries a value. `end` is the ReplyEnd when it had no data (for
   * its metas), undefined when its data went to `next` just before.
   */
  complete?(end: BrowserMessage | undefined): void;
  /** An Alarm from the server (`SOCKETD_ERR_ALARM`), a timeout, or the connection lost. */
  error?(err: SocketDError): void;
}

/** A running Subscribe. */
export interface BrowserSubscription {
  readonly sid: string;
  /** Stops the stream here and tells the server (an Alarm with `X-Cancel=1`). */
  cancel(): void;
}

/** Options of one send, request or subscribe. */
export interface BrowserCallOptions {
  metas?: Metas;
  /** Milliseconds before `SOCKETD_ERR_TIMEOUT` (default: the client's requestTimeout / streamTimeout). */
  timeout?: number;
  /**
   * Upload progress: called with bytes handed to the network and the total, while the browser
   * flushes a big payload (its fragments are queued at once; `bufferedAmount` tells how far).
   */
  onProgress?(sent: number, total: number): void;
}

/**
 * Options of the browser client: the engine's client options (timeouts, heartbeat, reconnect,
 * fragmentSize, limits, metas sent in Connect) without the Node-only ones. No logger by
 * default: pass `logger: console` (or any `{ log, warn, error }`) to see the engine's warnings.
 */
export type BrowserClientOptions = Omit<ClientOptions, 'tls' | 'maxDatagramSize' | 'transports' | 'onMessage' | 'onOpen' | 'onOrphanReply' | 'onAlarm' | 'onClosing' | 'onClose'>;

/**
 * The Socket.D client of the browser build: the engine's own `SdClient` (same session,
 * codec, fragmentation, heartbeat and reconnect as Node) over the browser's WebSocket, with
 * `Uint8Array` and strings at its edge instead of Node's Buffer.
 */
export class SocketDBrowserClient {
  private readonly client: SdClient;
  private readonly handlers = new Map<string, InboundHandler>();
  private readonly requestTimeout: number;

  /** @param url `sd:ws://host:port/path?param=value` (or `sd:wss://`); params reach the server's handshake. */
  constructor(url: string, options: BrowserClientOptions = {}) {
    this.client = new SdClient(url, {
      ...options,
      // Silent unless the page gives a logger (`logger: console` fits).
      logger: options.logger ?? false,
      onMessage: (session, message) => this.dispatch(session, message),
    });
    this.requestTimeout = options.requestTimeout ?? DEFAULTS.requestTimeout;
  }

  /** connecting, connected, disconnected, reconnecting, closed. */
  get status(): ClientStatus {
    return this.client.status;
  }

  /** Calls `fn` on every status change; returns the unsubscribe function. */
  onStatus(fn: (status: ClientStatus) => void): () => void {
    return this.client.onStatus(fn);
  }

  /** Connects (idempotent). Rejects with `SOCKETD_ERR_HANDSHAKE_REJECTED`, `_TRANSPORT`, `_CONNECT_TIMEOUT`. */
  async connect(): Promise<void> {
    await this.client.connect();
  }

  /** The server's Connack params (its `Socket.D` version and any metas it sent). */
  get handshake(): Readonly<Metas> | undefined {
    return this.client.session?.handshake.params;
  }

  /** Bytes queued in the WebSocket, not yet on the network. */
  get bufferedAmount(): number {
    return this.client.session?.bufferedAmount ?? 0;
  }

  /**
   * Serves the server's Messages, Requests and Subscribes on `event`. A Request or Subscribe
   * with no handler gets an Alarm naming the event.
   */
  on(event: string, handler: InboundHandler): this {
    this.handlers.set(event, handler);
    return this;
  }

  /**
   * Message: fire-and-forget. Like `request` and `subscribe`, without a connection it waits
   * for one at most `requestTimeout` (a request: its own timeout), then fails with
   * `SOCKETD_ERR_UNREACHABLE`.
   */
  async send(event: string, data?: BrowserPayload, options: BrowserCallOptions = {}): Promise<void> {
    const session = await this.client.ready(this.requestTimeout);
    const bytes = toBytes(data);
    const before = session.bufferedAmount;
    session.send(event, bytes, { metas: options.metas });
    if (options.onProgress !== undefined) await progress(session, before, bytes, options.onProgress);
  }

  /** Request: resolves with the first Reply or ReplyEnd; an Alarm rejects (`SOCKETD_ERR_ALARM`). */
  async request(event: string, data?: BrowserPayload, options: BrowserCallOptions = {}): Promise<BrowserMessage> {
    const bound = options.timeout !== undefined && options.timeout > 0 ? options.timeout : this.requestTimeout;
    const started = Date.now();
    const session = await this.client.ready(bound);
    const waited = Date.now() - started;
    const bytes = toBytes(data);
    const before = session.bufferedAmount;
    // The wait for a connection counts toward the request's timeout.
    const timeout = waited > 0 && (options.timeout === undefined || options.timeout >= 0) ? Math.max(1, bound - waited) : options.timeout;
    const reply = session.request(event, bytes, { metas: options.metas, timeout });
    if (options.onProgress !== undefined) void progress(session, before, bytes, options.onProgress);
    return toMessage(await reply);
  }

  /** Subscribe: every value to `next` (a ReplyEnd's data too), then `complete`; `cancel()` stops the server's stream. */
  async subscribe(event: string, data: BrowserPayload | undefined, observer: BrowserObserver, options: BrowserCallOptions = {}): Promise<BrowserSubscription> {
    const session = await this.client.ready(this.requestTimeout);
    const handle: StreamHandle = session.subscribe(event, toBytes(data), {
      next: (reply) => observer.next?.(toMessage(reply)),
      complete: (end) => observer.complete?.(end === undefined ? undefined : toMessage(end)),
      error: (err) => observer.error?.(asSocketDError(err)),
    }, { metas: options.metas, timeout: options.timeout });
    return { sid: handle.sid, cancel: () => handle.cancel() };
  }

  /** Sends Close and stops reconnecting. */
  close(): Promise<void> {
    return this.client.close();
  }

  private async dispatch(session: Session, message: ReceivedMessage): Promise<void> {
    const handler = this.handlers.get(message.event);
    if (handler === undefined) {
      if (message.isRequest || message.isSubscribe) session.alarm(message, `no handler for '${message.event}' in the browser client`);
      return;
    }
    const inbound = new InboundBrowserMessage(session, message);
    // A throw (or rejection) is logged by the session and answered with an Alarm.
    const result = await handler(inbound);
    if (result !== undefined && inbound.isRequest && !message.isDone) session.replyEnd(message, toBytes(result));
  }
}

/** Creates a client for `url` and connects it. */
export async function connect(url: string, options?: BrowserClientOptions): Promise<SocketDBrowserClient> {
  const client = new SocketDBrowserClient(url, options);
  await client.connect();
  return client;
}

function toBytes(data: BrowserPayload | undefined): string | Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data === undefined || typeof data === 'string' || data instanceof Uint8Array) return data;
  throw socketDError('INVALID_ARGUMENT', `payload must be a string, Uint8Array or ArrayBuffer, got ${typeof data}`);
}

function toMessage(message: ReceivedMessage): BrowserMessage {
  return new ReceivedBrowserMessage(message);
}

/** What a handler registered with `on()` gets: the message and the means to answer it. */
class InboundBrowserMessage extends ReceivedBrowserMessage implements BrowserInbound {
  readonly isRequest: boolean;
  // Arrow properties: a handler may destructure them (`({ reply }) => ...`).
  readonly reply = (data?: BrowserPayload, metas?: Metas): void => { this.session.reply(this.message, toBytes(data), metas); };
  readonly replyEnd = (data?: BrowserPayload, metas?: Metas): void => { this.session.replyEnd(this.message, toBytes(data), metas); };
  readonly alarm = (text: string): void => { this.session.alarm(this.message, text); };

  constructor(private readonly session: Session, message: ReceivedMessage) {
    super(message);
    this.isRequest = message.isRequest || message.isSubscribe;
  }
}

function asSocketDError(err: Error): SocketDError {
  return err instanceof SocketDError ? err : socketDError('TRANSPORT', err.message, { cause: err });
}

/** Reports how much of `bytes` left the WebSocket, once per animation-frame-ish tick. */
async function progress(session: Session, before: number, bytes: string | Uint8Array | undefined, onProgress: (sent: number, total: number) => void): Promise<void> {
  const total = typeof bytes === 'string' ? new TextEncoder().encode(bytes).length : bytes?.length ?? 0;
  for (;;) {
    const left = Math.max(0, session.bufferedAmount - before);
    onProgress(Math.max(0, total - left), total);
    if (left === 0 || !session.isOpen) return;
    await new Promise((resolve) => setTimeout(resolve, 16));
  }
}

export { isSocketDError };
