import { socketDError } from '../protocol/errors.js';
import type { Metas } from '../session/types.js';
import { SOCKETD_MAX_TIMEOUT } from './socketd.constants.js';

/**
 * How a {@link SocketDClient} sends a `send()` call: `subscribe` (Reply... ReplyEnd, so
 * streaming handlers stream) or `request` (a plain Request answered once).
 */
export type SocketDCallMode = 'subscribe' | 'request';

/** Per-call options of a {@link SocketDRecord}. */
export interface SocketDRecordOptions {
  /** Metas sent with the message (they win over packet metadata of the same name). */
  metas?: Metas;
  /**
   * Milliseconds the call may take in all: sets both `requestTimeout` and `streamTimeout`
   * of this call, unless they are given themselves.
   */
  timeout?: number;
  /**
   * Milliseconds to the call's first answer (a Reply, ReplyEnd or Alarm); past it the call
   * fails with `SOCKETD_ERR_TIMEOUT` ("requestTimeout ... no first answer"). Default: the
   * client's `requestTimeout`.
   */
  requestTimeout?: number;
  /**
   * Milliseconds to the call's end (its ReplyEnd; for a Request, its answer); past it the call
   * fails with `SOCKETD_ERR_TIMEOUT` ("streamTimeout ..."). Default: the client's `streamTimeout`.
   */
  streamTimeout?: number;
  /**
   * `subscribe` or `request`; wins over the client's `callMode` (default `auto`: Subscribe
   * toward servers announcing `X-Nest-Stream`, Request toward all others). Ignored by
   * `emit()` (always a Message).
   */
  mode?: SocketDCallMode;
  /**
   * The broker target of this call, sent as meta `@` (spec section 10): `orders` (one player
   * of that name, round-robin), `orders!` (one, sticky by meta `X-Hash`), `orders*` (every
   * player of that name: for `emit()`), `*` (every player). Wins over the client's `target`
   * / `eventTarget` and over a `@` in `metas`.
   */
  target?: string;
}

/** The meta carrying a broker target (spec section 10). */
export const TARGET_META = '@';

/**
 * A payload with Socket.D per-call options. Pass it as the data of `client.send()` or
 * `client.emit()`; the client unwraps it before encoding.
 */
export class SocketDRecord<TData = any> {
  constructor(
    readonly data: TData,
    readonly options: Readonly<SocketDRecordOptions> = {},
  ) {}

  /** Per-call metas. */
  get metas(): Readonly<Metas> | undefined {
    return this.options.metas;
  }
}

/**
 * Builds a {@link SocketDRecord}:
 * ```ts
 * client.send('user.get', new SocketDRecordBuilder({ id: 1 }).setMetas({ tenant: 'a' }).setRequestTimeout(2_000).build());
 * ```
 */
export class SocketDRecordBuilder<TData = any> {
  private metas: Metas | undefined;
  private timeout: number | undefined;
  private requestTimeout: number | undefined;
  private streamTimeout: number | undefined;
  private mode: SocketDCallMode | undefined;
  private target: string | undefined;

  constructor(private data?: TData) {}

  setData(data: TData): this {
    this.data = data;
    return this;
  }

  /** Replaces the per-call metas. */
  setMetas(metas: Metas): this {
    this.metas = { ...metas };
    return this;
  }

  /** Adds one meta. */
  setMeta(name: string, value: string): this {
    (this.metas ??= {})[name] = value;
    return this;
  }

  /**
   * Milliseconds the whole call may take: both its `requestTimeout` and its `streamTimeout`
   * (unless set on their own). A positive integer up to 2 147 483 647.
   */
  setTimeout(timeout: number): this {
    this.timeout = checkTimeout('timeout', timeout);
    return this;
  }

  /** Milliseconds to the call's first answer (default: the client's `requestTimeout`). */
  setRequestTimeout(timeout: number): this {
    this.requestTimeout = checkTimeout('requestTimeout', timeout);
    return this;
  }

  /** Milliseconds to the call's end (default: the client's `streamTimeout`). */
  setStreamTimeout(timeout: number): this {
    this.streamTimeout = checkTimeout('streamTimeout', timeout);
    return this;
  }

  /**
   * `subscribe` or `request` (one answer; what upstream servers expect) for this call,
   * whatever the client's `callMode`.
   */
  setMode(mode: SocketDCallMode): this {
    if (mode !== 'subscribe' && mode !== 'request') {
      throw socketDError('INVALID_ARGUMENT', `mode must be 'subscribe' or 'request', got ${String(mode)}`);
    }
    this.mode = mode;
    return this;
  }

  /**
   * Sends this call through a broker to `target` (meta `@`): `'orders'` one player of that
   * name, `'orders!'` one chosen by meta `X-Hash` (set it with `setMeta`), `'orders*'` every
   * player of that name (an `emit()` to all instances), `'*'` every player. Wins over the
   * client's `target` / `eventTarget`.
   */
  setTarget(target: string): this {
    this.target = checkTarget(target);
    return this;
  }

  /** Shorthand for `setMode('request')`. */
  asRequest(): this {
    return this.setMode('request');
  }

  build(): SocketDRecord<TData> {
    const options: SocketDRecordOptions = {};
    if (this.metas !== undefined) options.metas = Object.freeze({ ...this.metas });
    if (this.timeout !== undefined) options.timeout = this.timeout;
    if (this.requestTimeout !== undefined) options.requestTimeout = this.requestTimeout;
    if (this.streamTimeout !== undefined) options.streamTimeout = this.streamTimeout;
    if (this.mode !== undefined) options.mode = this.mode;
    if (this.target !== undefined) options.target = this.target;
    return new SocketDRecord(this.data as TData, Object.freeze(options));
  }
}

const NO_RECORD_OPTIONS: SocketDRecordOptions = Object.freeze({});

// A per-call timeout: milliseconds a Node timer can wait (a larger one would fire at once).
function checkTimeout(name: string, timeout: number): number {
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > SOCKETD_MAX_TIMEOUT) {
    throw socketDError('INVALID_ARGUMENT', `${name} must be an integer in 1..${SOCKETD_MAX_TIMEOUT} (milliseconds), got ${String(timeout)}`);
  }
  return timeout;
}

/** Checks a broker target (`name`, `name!`, `name*` or `*`); returns it. */
export function checkTarget(target: unknown, what = 'target'): string {
  if (typeof target !== 'string' || target.length === 0 || /[&=,\s]/.test(target)) {
    throw socketDError('INVALID_ARGUMENT', `${what} must be a player name ('orders', 'orders!', 'orders*' or '*'), got ${String(target)}`);
  }
  return target;
}

/**
 * The per-call metas with the call's broker target as meta `@`: the record's `target`, else a
 * `@` already in the record's metas, else the client's default (`fallback`).
 */
export function callMetas(options: Readonly<SocketDRecordOptions>, fallback: string | undefined): Readonly<Metas> | undefined {
  const metas = options.metas;
  const target = options.target ?? (metas?.[TARGET_META] !== undefined ? undefined : fallback);
  return target === undefined ? metas : { ...metas, [TARGET_META]: target };
}

/** The data of a Nest packet and its per-call options (none unless it is a {@link SocketDRecord}). */
export function unwrapRecord(data: unknown): { data: unknown; options: Readonly<SocketDRecordOptions> } {
  return data instanceof SocketDRecord ? { data: data.data, options: data.options } : { data, options: NO_RECORD_OPTIONS };
}
