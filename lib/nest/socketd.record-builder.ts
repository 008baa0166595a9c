import type { Metas } from '../session/types.js';

/** How a {@link SocketDClient} sends a `send()` call. */
export type SocketDCallMode = 'subscribe' | 'request';

/** Per-call options of a {@link SocketDRecord}. */
export interface SocketDRecordOptions {
  /** Metas sent with the message (they win over packet metadata of the same name). */
  metas?: Metas;
  /**
   * Milliseconds until the call fails with `SOCKETD_ERR_TIMEOUT`. Default: the client's
   * `requestTimeout` (Request) or `streamTimeout` (Subscribe).
   */
  timeout?: number;
  /**
   * `subscribe` (default for `send()`): Reply... ReplyEnd, so streaming handlers stream.
   * `request`: a plain Request answered once, for upstream peers that reply to Requests only.
   * Ignored by `emit()` (always a Message).
   */
  mode?: SocketDCallMode;
}

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
 * client.send('user.get', new SocketDRecordBuilder({ id: 1 }).setMetas({ tenant: 'a' }).setTimeout(2_000).build());
 * ```
 */
export class SocketDRecordBuilder<TData = any> {
  private metas: Metas | undefined;
  private timeout: number | undefined;
  private mode: SocketDCallMode | undefined;

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

  /** Milliseconds until the call fails with `SOCKETD_ERR_TIMEOUT`. */
  setTimeout(timeout: number): this {
    this.timeout = timeout;
    return this;
  }

  /** `subscribe` (default) or `request` (one answer; for peers that only answer Requests). */
  setMode(mode: SocketDCallMode): this {
    this.mode = mode;
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
    if (this.mode !== undefined) options.mode = this.mode;
    return new SocketDRecord(this.data as TData, Object.freeze(options));
  }
}

const NO_RECORD_OPTIONS: SocketDRecordOptions = Object.freeze({});

/** The data of a Nest packet and its per-call options (none unless it is a {@link SocketDRecord}). */
export function unwrapRecord(data: unknown): { data: unknown; options: Readonly<SocketDRecordOptions> } {
  return data instanceof SocketDRecord ? { data: data.data, options: data.options } : { data, options: NO_RECORD_OPTIONS };
}
