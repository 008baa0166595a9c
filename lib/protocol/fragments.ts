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

/** Options of {@link FragmentAggregator}. */
export interface FragmentAggregatorOptions {
  /** Largest reassembled message (its declared `Data-Length`), in bytes. */
  readonly maxMessageSize: number;
  /** Cap on the sum of the declared `Data-Length` of all messages being reassembled (plus `entryOverhead` each). */
  readonly maxPendingBytes: number;
  /**
   * Bytes charged against `maxPendingBytes` per message being reassembled, on top of its
   * `Data-Length`: what its bookkeeping costs (strings, buffer header, map entry), so that
   * many tiny partial messages cannot hold far more memory than they declare. Default 0.
   */
  readonly entryOverhead?: number;
}

interface Pending {
  readonly flag: Frame['flag'];
  readonly event: string;
  readonly metaString: string;
  readonly buf: Buffer;
  received: number;
  nextIdx: number;
}

/** A message refused for its size whose later fragments are dropped as they arrive. */
interface Skipped {
  remaining: number;
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
 * The first fragment of a sid must carry `Data-Length`; it is checked against
 * `maxMessageSize`, and the sum of all in-progress `Data-Length`s against `maxPendingBytes`,
 * before the message buffer is allocated (once, exactly sized). Completion is by byte count,
 * never by `Data-Fragment-Total` (Python writes a byte count there). Fragments of a sid must
 * arrive in index order. Later fragments' flag and event are not compared with the first's,
 * as upstream does not.
 *
 * A message refused for its size (`SOCKETD_ERR_MESSAGE_TOO_LARGE`) is remembered as skipped:
 * its later fragments are dropped (`add` returns undefined) until its declared bytes have
 * arrived or a new fragment 1 reuses the sid, so a session may answer it and carry on.
 */
export class FragmentAggregator {
  private readonly maxMessageSize: number;
  private readonly maxPendingBytes: number;
  private readonly entryOverhead: number;
  private readonly pending = new Map<string, Pending>();
  private readonly skipped = new Map<string, Skipped>();
  private pendingTotal = 0;

  /** @throws `SOCKETD_ERR_INVALID_ARGUMENT` unless both caps are non-negative integers. */
  constructor(options: FragmentAggregatorOptions) {
    const { maxMessageSize, maxPendingBytes, entryOverhead = 0 } = options;
    for (const [name, value] of [['maxMessageSize', maxMessageSize], ['maxPendingBytes', maxPendingBytes], ['entryOverhead', entryOverhead]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw socketDError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${value}`);
      }
    }
    this.maxMessageSize = maxMessageSize;
    this.maxPendingBytes = maxPendingBytes;
    this.entryOverhead = entryOverhead;
  }

  /** Sum of the declared `Data-Length` (plus `entryOverhead` each) of the messages being reassembled. */
  get pendingBytes(): number {
    return this.pendingTotal;
  }

  /** Number of messages being reassembled. */
  get size(): number {
    return this.pending.size;
  }

  /** Messages being reassembled plus those being skipped: what a peer has started and not finished. */
  get partials(): number {
    return this.pending.size + this.skipped.size;
  }

  /** True when `frame` is a fragment that would start a new partial message (a first fragment for its sid). */
  startsMessage(frame: Frame): boolean {
    return isFragment(frame) && !this.pending.has(frame.sid) && !this.skipped.has(frame.sid);
  }

  /** Drops every message being reassembled or skipped (on connection close). */
  clear(): void {
    this.pending.clear();
    this.skipped.clear();
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
        this.skip(frame, length, `fragmented message of ${length} bytes exceeds maxMessageSize ${this.maxMessageSize}`, this.maxMessageSize);
      }
      const charged = length + this.entryOverhead;
      if (this.pendingTotal + charged > this.maxPendingBytes) {
        this.skip(frame, length, `fragmented message of ${length} bytes would bring pending fragments to ${this.pendingTotal + charged} bytes, over maxPendingBytes ${this.maxPendingBytes}`, this.maxPendingBytes);
      }
      const { flag, event } = frame;
      const metaString = removeMeta(frame.metaString, MetaKeys.DATA_FRAGMENT_IDX);
      // A one-fragment message (JS re-sends aggregated metas with Data-Fragment-Idx=1)
      // completes at once, without a copy.
      if (data.length === length) return { flag, sid, event, metaString, data };
      const buf = Buffer.allocUnsafe(length);
      buf.set(data, 0);
      this.pending.set(sid, { flag, event, metaString, buf, received: data.length, nextIdx: 2 });
      this.pendingTotal += charged;
      return undefined;
    }

    if (idx !== entry.nextIdx) return this.fail(sid, `fragment ${idx} of sid ${sid} arrived, expected ${entry.nextIdx}`);
    const length = entry.buf.length;
    if (entry.received + data.length > length) {
      return this.fail(sid, `fragments of sid ${sid} exceed their ${MetaKeys.DATA_LENGTH} ${length}`);
    }
    entry.buf.set(data, entry.received);
    entry.received += data.length;
    entry.nextIdx++;
    if (entry.received < length) return undefined;
    this.pending.delete(sid);
    this.pendingTotal -= length + this.entryOverhead;
    return { flag: entry.flag, sid, event: entry.event, metaString: entry.metaString, data: entry.buf };
  }

  private fail(sid: string, message: string): never {
    const entry = this.pending.get(sid);
    if (entry !== undefined) {
      this.pending.delete(sid);
      this.pendingTotal -= entry.buf.length + this.entryOverhead;
    }
    throw socketDError('BAD_FRAGMENT', message, { sid });
  }

  // Refuses a first fragment for its size; the rest of its message will be dropped.
  private skip(first: Frame, length: number, message: string, max: number): never {
    const { sid, flag, event } = first;
    const remaining = length - first.data.length;
    if (remaining > 0) this.skipped.set(sid, { remaining });
    throw socketDError('MESSAGE_TOO_LARGE', message, { sid, flag, event, length, max });
  }
}
