/**
 * MessagePack codec for the Socket.D Nest transport (`nestjs-socketd/msgpack`), on the optional
 * peer dependency `msgpackr`. Only this entry loads msgpackr: the package's main entry never does.
 *
 * ```ts
 * import { SocketDMsgpackSerializer, SocketDMsgpackDeserializer } from 'nestjs-socketd/msgpack';
 * new SocketDServer({ url, serializer: new SocketDMsgpackSerializer(), deserializer: new SocketDMsgpackDeserializer() });
 * ```
 */
import { Packr, Unpackr, type Options as MsgpackrOptions } from 'msgpackr';
import type { ReceivedMessage } from '../session/types.js';
import { DATA_TYPE_META, DATA_TYPE_MSGPACK } from './socketd.constants.js';
import { SocketDDeserializer, type SocketDDeserializerLike } from './socketd.deserializer.js';
import type { SocketDEntity, SocketDSerializerLike } from './socketd.serializer.js';

export { DATA_TYPE_MSGPACK };

/** The meta string our serializer sends, compared as it is (no parsing per message). */
const MSGPACK_META_STRING = `${DATA_TYPE_META}=${DATA_TYPE_MSGPACK}`;
const MSGPACK_METAS = Object.freeze({ [DATA_TYPE_META]: DATA_TYPE_MSGPACK });
const EMPTY_ENTITY: SocketDEntity = Object.freeze({});

/**
 * msgpackr options used by default on both sides: full fidelity between two msgpackr peers
 * (Maps stay Maps, Sets, Dates, BigInts of any size, Buffers at any depth, typed arrays,
 * Errors). Plain objects travel as msgpackr "records" (a msgpackr extension, each message
 * self-contained). For a peer that decodes with another MessagePack library, pass
 * `{ useRecords: false }` to both sides: Maps then arrive as plain objects.
 */
export const SOCKETD_MSGPACK_DEFAULTS: Readonly<MsgpackrOptions> = Object.freeze({
  moreTypes: true,
  mapsAsObjects: false,
});

/**
 * Serializer: any value except `undefined` → MessagePack bytes with
 * `Data-Type=application/msgpack`; `undefined` → no data (as the JSON serializer does).
 */
export class SocketDMsgpackSerializer implements SocketDSerializerLike {
  private readonly packr: Packr;

  /** `options`: msgpackr `Options`, over {@link SOCKETD_MSGPACK_DEFAULTS}. Use the same on the deserializer. */
  constructor(options: MsgpackrOptions = {}) {
    this.packr = new Packr({ ...SOCKETD_MSGPACK_DEFAULTS, ...options });
  }

  serialize(value: unknown): SocketDEntity {
    if (value === undefined) return EMPTY_ENTITY;
    return { data: this.packr.pack(value), metas: MSGPACK_METAS };
  }
}

/**
 * Deserializer: a message with `Data-Type=application/msgpack` is unpacked; any other message
 * (JSON, bytes, text, unmarked data from upstream peers) goes to the default
 * {@link SocketDDeserializer}, so a msgpack app still understands peers that send JSON (and
 * refuses other types as it does).
 */
export class SocketDMsgpackDeserializer implements SocketDDeserializerLike {
  private readonly unpackr: Unpackr;
  private readonly fallback = new SocketDDeserializer();

  /** `options`: msgpackr `Options`, over {@link SOCKETD_MSGPACK_DEFAULTS}; the serializer's. */
  constructor(options: MsgpackrOptions = {}) {
    this.unpackr = new Unpackr({ ...SOCKETD_MSGPACK_DEFAULTS, ...options });
  }

  deserialize(message: ReceivedMessage): unknown {
    const metaString = message.metaString;
    if (metaString === MSGPACK_META_STRING || (metaString.length > 0 && message.meta(DATA_TYPE_META) === DATA_TYPE_MSGPACK)) {
      return message.data.length === 0 ? undefined : this.unpackr.unpack(message.data);
    }
    return this.fallback.deserialize(message);
  }
}
