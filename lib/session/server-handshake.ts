import { MetaKeys, PROTOCOL_VERSION } from '../protocol/constants.js';
import { socketDError, type SocketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { appendMetas, serializeMetas } from '../protocol/metas.js';
import type { FrameWriter } from './frame-writer.js';
import type { Handshake, Metas, ServerOptions } from './types.js';

/** Server-side handshake settings. */
export interface ServerHandshakeConfig {
  readonly onHandshake: ServerOptions['onHandshake'];
  readonly handshakeTimeout: number;
  /** When the connection was accepted (`performance.now()`, `Connection.acceptedAt`); default: now. */
  readonly startedAt?: number;
}

/** What the server handshake asks of its session. */
export interface ServerHandshakeHost {
  readonly remoteAddress: string | undefined;
  /** True once the session closed (a late verdict is ignored then). */
  readonly isClosed: boolean;
  /** Holds frames that arrive while an async hook runs. */
  holdFrames(): void;
  /** The Connack went out: the session opens. */
  opened(): void;
  /** Refuses the client (Close 1001); `err` is what the hook threw, if it threw. */
  refuse(err: unknown): void;
  /** Accepting failed inside the engine (the session closes with 1002). */
  fail(err: unknown, what: string): void;
  /** No Connect arrived in time. */
  timeOut(err: SocketDError): void;
}

/**
 * The server side of spec section 6.1: a timer from the accepted connection to the Connect,
 * then the user's `onHandshake` hook (sync or async) deciding between Connack and Close 1001.
 */
export class ServerHandshake {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ServerHandshakeConfig,
    private readonly host: ServerHandshakeHost,
    private readonly writer: FrameWriter,
  ) {
    const ms = config.handshakeTimeout;
    const left = config.startedAt === undefined ? ms : Math.max(0, ms - (performance.now() - config.startedAt));
    this.timer = setTimeout(() => host.timeOut(socketDError('HANDSHAKE_TIMEOUT', `no Connect within ${ms} ms`)), left);
    this.timer.unref?.();
  }

  /** The handshake is over (open or closed): the timer stops. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs the hook on a Connect frame (described by `handshake`): Connack or refusal follows. */
  run(connect: Frame, handshake: Handshake): void {
    const outMetas: Metas = Object.create(null);
    const hook = this.config.onHandshake;
    let verdict: boolean | void | Promise<boolean | void>;
    try {
      verdict = hook ? hook(handshake, outMetas, this.host.remoteAddress) : true;
    } catch (err) {
      this.host.refuse(err);
      return;
    }
    if (verdict instanceof Promise) {
      this.host.holdFrames();
      verdict.then(
        (ok) => this.decide(connect, ok, outMetas),
        (err: unknown) => { if (!this.host.isClosed) this.host.refuse(err); },
      ).catch((err: unknown) => { if (!this.host.isClosed) this.host.fail(err, 'accepting the handshake'); });
    } else {
      this.decide(connect, verdict, outMetas);
    }
  }

  private decide(connect: Frame, verdict: boolean | void, outMetas: Metas): void {
    if (this.host.isClosed) return;
    if (verdict === false) {
      this.host.refuse(undefined);
      return;
    }
    try {
      const metaString = appendMetas(serializeMetas({ [MetaKeys.VERSION]: PROTOCOL_VERSION }), outMetas);
      this.writer.writeFrame({ flag: Flags.Connack, sid: connect.sid, event: connect.event, metaString, data: connect.data });
    } catch (err) {
      this.host.fail(err, 'sending the Connack');
      return;
    }
    this.host.opened();
  }
}
