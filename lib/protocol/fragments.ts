/**
 * Fragmentation of big payloads (spec section 8): splitting on send, reassembly on receive.
 */
import { MAX_FRAGMENT_SIZE, MetaKeys, MIN_FRAGMENT_SIZE } from './constants.js';
import { socketDError } from './errors.js';
import { isFragmentable } from './flags.js';
import type { Frame } from './frame.js';
import { parseMetas, removeMeta } from './metas.js';

const IDX_PREFIX = `${MetaKeys.DATA_FRAGMENT_IDX}=`;
const IDX_PIECE = `&${IDX_PREFIX}`;

/**
 * Splits a message frame whose data is longer than `fragmentSize` into fragments, in index
 * order; returns `[frame]` when it fits, or when its flag is not fragmentable (only Message,
 * Request, Subscribe, Reply, ReplyEnd are, spec section 8).
 *
 * Fragment 1 keeps the original metaString and appends
 * `Data-Length=<total bytes>&Data-Fragment-Idx=1&Data-Fragment-Total=<n>` (the JavaScript
 * order, as recorded in the ws-js-frag vectors); fragment i > 1 carries only
 * `Data-Fragment-Idx=<i>&Data-Fragment-Total=<n>`. Data chunks are views into `frame.data`.
 *
 * @param fragmentSize bytes of data per fragment, 1024..16 777 216 (upstream default 16 MiB).
 * @throws `SOCKETD_ERR_INVALID_ARGUMENT` for a fragment size outside that range.
 */
export function fragmentFrame(frame: Frame, fragmentSize: number): Frame[] {
  if (!Number.isInteger(fragmentSize) || fragmentSize < MIN_FRAGMENT_SIZE || fragmentSize > MAX_FRAGMENT_SIZE) {
    throw socketDError('INVALID_ARGUMENT', `fragmentSize must be an integer in ${MIN_FRAGMENT_SIZE}..${MAX_FRAGMENT_SIZE}, got ${fragmentSize}`);
  }
  const data = frame.data;
  const size = data.length;
  if (size <= fragmentSize || !isFragmentable(frame.flag)) return [frame];
  const total = Math.ceil(size / fragmentSize);
  const fragments: Frame[] = new Array<Frame>(total);
  const { flag, sid, event } = frame;
  const first = `${MetaKeys.DATA_LENGTH}=${size}&${IDX_PREFIX}1&${MetaKeys.DATA_FRAGMENT_TOTAL}=${total}`;
  for (let i = 0; i < total; i++) {
    const start = i * fragmentSize;
    const metaString = i === 0
      ? (frame.metaString.length === 0 ? first : `${frame.metaString}&${first}`)
      : `${IDX_PREFIX}${i + 1}&${MetaKeys.DATA_FRAGMENT_TOTAL}=${total}`;
    fragments[i] = { flag, sid, event, metaString, data: data.subarray(start, Math.min(start + fragmentSize, size)) };
  }
  return fragments;
}

/**
 * True when the frame is a fragment: a fragmentable flag (40, 41, 42, 48, 49) and a
 * `Data-Fragment-Idx` meta. Exact without parsing: a piece is that key iff it starts the
 * metaString or follows an `&` (values cannot contain `&`).
 */
export function isFragment(frame: Frame): boolean {
  const meta = frame.metaString;
  return isFragmentable(frame.flag) && (meta.startsWith(IDX_PREFIX) || meta.includes(IDX_PIECE));
}

/**
 * Where reassembly draws its bytes from (a server's memory budget): `take` returns false,
 * taking nothing, when there is no room.
 */
export interface ByteAccount {
  take(n: number): boolean;
  give(n: number): void;
  /** Names what would refuse `n` more bytes, for an error message. */
  describeRefusal?(n: number): string;
}

/** Options of {@link FragmentAggregator}. */
export interface FragmentAggregatorOptions {
  /** Largest reassembled message (its declared `Data-Length`), in bytes. */
  readonly maxMessageSize: number;
  /** Cap on the bytes received of all messages being reassembled (plus `entryOverhead` each). */
  readonly maxPendingBytes: number;
  /**
   * Bytes charged per message being reassembled, on top of the bytes received: what its
   * bookkeeping costs (strings, map entry), so that many tiny partial messages cannot hold
   * far more memory than they are charged. Default 0.
   */
  readonly entryOverhead?: number;
  /** Also charged with every byte held (fragments and `entryOverhead`); default: none. */
  readonly memory?: ByteAccount;
}

/** Bytes charged per fragment held, on top of its data: its Buffer object and array slot. */
export const FRAGMENT_CHUNK_OVERHEAD = 96;
const CHUNK_OVERHEAD = FRAGMENT_CHUNK_OVERHEAD;

interface Pending {
  readonly flag: Frame['flag'];
  readonly event: string;
  readonly metaString: string;
  /** The declared `Data-Length`. */
  readonly length: number;
  /** The fragments' data so far, joined once the last arrives (nothing is reserved ahead). */
  readonly chunks: Buffer[];
  received: number;
  /** Bytes charged for this message (in `pendingTotal` and `memory`). */
  charged: number;
  nextIdx: number;
}

/** A message refused for its size whose later fragments are dropped as they arrive. */
interface Skipped {
  remaining: number;
}

/**
 * `data` itself when it owns most of its memory, else a copy: a small fragment decoded in
 * place is a view into a whole receive chunk, which keeping it would keep too.
 */
function own(data: Buffer): Buffer {
  if (data.length * 2 >= data.buffer.byteLength) return data;
  const copy = Buffer.allocUnsafeSlow(data.length);
  copy.set(data, 0);
  return copy;
}

/** A non-negative decimal integer, or -1. Strict: no sign, blanks, exponent or fraction. */
function parseCount(text: string | undefined): number {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return -1;
  return Number(text);
}

/**
 * Reassembles fragmented messages of one connection (spec section 8), keyed by sid, so
 * fragments of different sids may interleave.
 *
 * The first fragment of a sid must carry `Data-Length`, checked against `maxMessageSize`.
 * Memory is taken as fragments arrive, never reserved for the declared length: each
 * fragment's bytes are charged (against `maxPendingBytes` and the `memory` account) before
 * it is kept, and the message is joined once its last fragment arrived. Completion is by byte count,
 * never by `Data-Fragment-Total` (Python writes a byte count there). Fragments of a sid must
 * arrive in index order. Later fragments' flag and event are not compared with the first's,
 * as upstream does not.
 *
 * A message refused for its size or for lack of room, at any fragment
 * (`SOCKETD_ERR_MESSAGE_TOO_LARGE`), is dropped and remembered as skipped:
 * its later fragments are dropped (`add` returns undefined) until its declared bytes have
 * arrived or a new fragment 1 reuses the sid, so a session may answer it and carry on.
 */
export class FragmentAggregator {
  private readonly maxMessageSize: number;
  private readonly maxPendingBytes: number;
  private readonly entryOverhead: number;
  private readonly memory: ByteAccount | undefined;
  // Created on first use: most sessions never see a fragment, and an idle session's every
  // empty Map costs ~190 bytes of heap.
  private pendingMap: Map<string, Pending> | undefined;
  private skippedMap: Map<string, Skipped> | undefined;
  private pendingTotal = 0;

  /** @throws `SOCKETD_ERR_INVALID_ARGUMENT` unless both caps are non-negative integers. */
  constructor(options: FragmentAggregatorOptions) {
    const { maxMessageSize, maxPendingBytes, entryOverhead = 0, memory } = options;
    for (const [name, value] of [['maxMessageSize', maxMessageSize], ['maxPendingBytes', maxPendingBytes], ['entryOverhead', entryOverhead]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw socketDError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${value}`);
      }
    }
    this.maxMessageSize = maxMessageSize;
    this.maxPendingBytes = maxPendingBytes;
    this.entryOverhead = entryOverhead;
    this.memory = memory;
  }

  /** Bytes held for the messages being reassembled (received bytes plus overheads). */
  get pendingBytes(): number {
    return this.pendingTotal;
  }

  /** Number of messages being reassembled. */
  get size(): number {
    return this.pendingMap?.size ?? 0;
  }

  /** Messages being reassembled plus those being skipped: what a peer has started and not finished. */
  get partials(): number {
    return (this.pendingMap?.size ?? 0) + (this.skippedMap?.size ?? 0);
  }

  private get pending(): Map<string, Pending> {
    return this.pendingMap ??= new Map();
  }

  private get skipped(): Map<string, Skipped> {
    return this.skippedMap ??= new Map();
  }

  /** True when `frame` is a fragment that would start a new partial message (a first fragment for its sid). */
  startsMessage(frame: Frame): boolean {
    return isFragment(frame) && !this.pending.has(frame.sid) && !this.skipped.has(frame.sid);
  }

  /** Drops every message being reassembled or skipped (on connection close). */
  clear(): void {
    if (this.pendingTotal !== 0) this.memory?.give(this.pendingTotal);
    this.pendingMap = undefined;
    this.skippedMap = undefined;
    this.pendingTotal = 0;
  }

  /**
   * Takes the next received frame. Returns it unchanged when it is not a fragment, the whole
   * message when `frame` completes one, and `undefined` while a message is incomplete.
   *
   * The whole message has the first fragment's flag, sid and event, its metaString minus
   * `Data-Fragment-Idx` (keeping `Data-Length` and `Data-Fragment-Total`, as Java does), and
   * all the data.
   *
   * @throws `SOCKETD_ERR_BAD_FRAGMENT` (no or bad `Data-Length` on a first fragment, a bad or
   *   out-of-order index, more bytes than declared; close code 1002, the sid's partial message
   *   is dropped) and `SOCKETD_ERR_MESSAGE_TOO_LARGE` (a first fragment over `maxMessageSize`
   *   or `maxPendingBytes`; details `sid`, `flag`, `event`, `length`, `max`). The latter is
   *   recoverable: the message is skipped (see the class) and others are not affected.
   */
  add(frame: Frame): Frame | undefined {
    if (!isFragment(frame)) return frame;
    const { sid, data } = frame;
    const metas = parseMetas(frame.metaString);
    const idx = parseCount(metas[MetaKeys.DATA_FRAGMENT_IDX]);
    const entry = this.pending.get(sid);
    if (idx < 1) return this.fail(sid, `fragment of sid ${sid} has a bad ${MetaKeys.DATA_FRAGMENT_IDX}`);

    const skip = entry === undefined ? this.skipped.get(sid) : undefined;
    if (skip !== undefined) {
      if (idx !== 1) {
        skip.remaining -= data.length;
        if (skip.remaining <= 0) this.skipped.delete(sid);
        return undefined;
      }
      this.skipped.delete(sid); // a new message on that sid
    }

    if (entry === undefined) {
      if (idx !== 1) return this.fail(sid, `fragment ${idx} of sid ${sid} arrived without fragment 1`);
      const length = parseCount(metas[MetaKeys.DATA_LENGTH]);
      if (length < 0) return this.fail(sid, `first fragment of sid ${sid} has no valid ${MetaKeys.DATA_LENGTH}`);
      if (data.length > length) return this.fail(sid, `fragment 1 of sid ${sid} holds ${data.length} bytes, more than its ${MetaKeys.DATA_LENGTH} ${length}`);
      if (length > this.maxMessageSize) {
        this.skip(frame, length, data.length, `fragmented message of ${length} bytes exceeds maxMessageSize ${this.maxMessageSize}`, this.maxMessageSize);
      }
      const { flag, event } = frame;
      const metaString = removeMeta(frame.metaString, MetaKeys.DATA_FRAGMENT_IDX);
      // A one-fragment message (JS re-sends aggregated metas with Data-Fragment-Idx=1)
      // completes at once, without a copy.
      if (data.length === length) return { flag, sid, event, metaString, data };
      const cost = this.entryOverhead + CHUNK_OVERHEAD + data.length;
      const refused = this.refusal(cost);
      if (refused !== undefined) this.skip(frame, length, data.length, `fragmented message of ${length} bytes refused: ${refused}`, this.maxPendingBytes);
      this.pending.set(sid, { flag, event, metaString, length, chunks: [own(data)], received: data.length, charged: cost, nextIdx: 2 });
      return undefined;
    }

    if (idx !== entry.nextIdx) return this.fail(sid, `fragment ${idx} of sid ${sid} arrived, expected ${entry.nextIdx}`);
    const length = entry.length;
    if (entry.received + data.length > length) {
      return this.fail(sid, `fragments of sid ${sid} exceed their ${MetaKeys.DATA_LENGTH} ${length}`);
    }
    const received = entry.received + data.length;
    if (received === length) {
      // The last fragment: joined with the others, and nothing more is held for it here.
      entry.chunks.push(data);
      this.drop(sid, entry);
      const whole = Buffer.concat(entry.chunks, length);
      return { flag: entry.flag, sid, event: entry.event, metaString: entry.metaString, data: whole };
    }
    const cost = CHUNK_OVERHEAD + data.length;
    const refused = this.refusal(cost);
    if (refused !== undefined) {
      this.drop(sid, entry);
      this.skip({ ...frame, flag: entry.flag, event: entry.event }, length, received,
        `fragmented message of ${length} bytes refused after ${entry.received} bytes: ${refused}`, this.maxPendingBytes);
    }
    entry.chunks.push(own(data));
    entry.charged += cost;
    entry.received = received;
    entry.nextIdx++;
    return undefined;
  }

  /** Charges `cost` bytes; undefined when they fit, else what refused them. */
  private refusal(cost: number): string | undefined {
    if (this.pendingTotal + cost > this.maxPendingBytes) {
      return `pending fragments would hold ${this.pendingTotal + cost} bytes, over maxPendingBytes ${this.maxPendingBytes}`;
    }
    const memory = this.memory;
    if (memory !== undefined && !memory.take(cost)) {
      return `no room in ${memory.describeRefusal?.(cost) ?? 'the memory budget'}`;
    }
    this.pendingTotal += cost;
    return undefined;
  }

  /** Forgets a message being reassembled and gives back what it held. */
  private drop(sid: string, entry: Pending): void {
    this.pending.delete(sid);
    this.pendingTotal -= entry.charged;
    this.memory?.give(entry.charged);
  }

  private fail(sid: string, message: string): never {
    const entry = this.pending.get(sid);
    if (entry !== undefined) this.drop(sid, entry);
    throw socketDError('BAD_FRAGMENT', message, { sid });
  }

  // Refuses a message at `frame` (its first fragment, or a later one with the first's flag
  // and event), `received` bytes in; the rest of it will be dropped.
  private skip(frame: Frame, length: number, received: number, message: string, max: number): never {
    const { sid, flag, event } = frame;
    const remaining = length - received;
    if (remaining > 0) this.skipped.set(sid, { remaining });
    throw socketDError('MESSAGE_TOO_LARGE', message, { sid, flag, event, length, max });
  }
}
