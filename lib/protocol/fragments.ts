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
  /** Cap on the sum of the declared `Data-Length` of all messages being reassembled. */
  readonly maxPendingBytes: number;
}

interface Pending {
  readonly flag: Frame['flag'];
  readonly event: string;
  readonly metaString: string;
  readonly buf: Buffer;
  received: number;
  nextIdx: number;
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
 */
export class FragmentAggregator {
  private readonly maxMessageSize: number;
  private readonly maxPendingBytes: number;
  private readonly pending = new Map<string, Pending>();
  private pendingTotal = 0;

  /** @throws `SOCKETD_ERR_INVALID_ARGUMENT` unless both caps are non-negative integers. */
  constructor(options: FragmentAggregatorOptions) {
    const { maxMessageSize, maxPendingBytes } = options;
    for (const [name, value] of [['maxMessageSize', maxMessageSize], ['maxPendingBytes', maxPendingBytes]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw socketDError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${value}`);
      }
    }
    this.maxMessageSize = maxMessageSize;
    this.maxPendingBytes = maxPendingBytes;
  }

  /** Sum of the declared `Data-Length` of the messages being reassembled. */
  get pendingBytes(): number {
    return this.pendingTotal;
  }

  /** Number of messages being reassembled. */
  get size(): number {
    return this.pending.size;
  }

  /** Drops every message being reassembled (on connection close). */
  clear(): void {
    this.pending.clear();
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
   *   out-of-order index, more bytes than declared) and `SOCKETD_ERR_MESSAGE_TOO_LARGE`;
   *   both with close code 1002. The sid's partial message is dropped.
   */
  add(frame: Frame): Frame | undefined {
    if (!isFragment(frame)) return frame;
    const { sid, data } = frame;
    const metas = parseMetas(frame.metaString);
    const idx = parseCount(metas[MetaKeys.DATA_FRAGMENT_IDX]);
    const entry = this.pending.get(sid);
    if (idx < 1) return this.fail(sid, `fragment of sid ${sid} has a bad ${MetaKeys.DATA_FRAGMENT_IDX}`);

    if (entry === undefined) {
      if (idx !== 1) return this.fail(sid, `fragment ${idx} of sid ${sid} arrived without fragment 1`);
      const length = parseCount(metas[MetaKeys.DATA_LENGTH]);
      if (length < 0) return this.fail(sid, `first fragment of sid ${sid} has no valid ${MetaKeys.DATA_LENGTH}`);
      if (length > this.maxMessageSize) {
        throw socketDError('MESSAGE_TOO_LARGE', `fragmented message of ${length} bytes exceeds maxMessageSize ${this.maxMessageSize}`, { sid, length, max: this.maxMessageSize });
      }
      if (this.pendingTotal + length > this.maxPendingBytes) {
        throw socketDError('MESSAGE_TOO_LARGE', `fragmented message of ${length} bytes would bring pending fragments to ${this.pendingTotal + length} bytes, over maxPendingBytes ${this.maxPendingBytes}`, { sid, length, max: this.maxPendingBytes });
      }
      if (data.length > length) return this.fail(sid, `fragment 1 of sid ${sid} holds ${data.length} bytes, more than its ${MetaKeys.DATA_LENGTH} ${length}`);
      const { flag, event } = frame;
      const metaString = removeMeta(frame.metaString, MetaKeys.DATA_FRAGMENT_IDX);
      // A one-fragment message (JS re-sends aggregated metas with Data-Fragment-Idx=1)
      // completes at once, without a copy.
      if (data.length === length) return { flag, sid, event, metaString, data };
      const buf = Buffer.allocUnsafe(length);
      buf.set(data, 0);
      this.pending.set(sid, { flag, event, metaString, buf, received: data.length, nextIdx: 2 });
      this.pendingTotal += length;
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
    this.pendingTotal -= length;
    return { flag: entry.flag, sid, event: entry.event, metaString: entry.metaString, data: entry.buf };
  }

  private fail(sid: string, message: string): never {
    const entry = this.pending.get(sid);
    if (entry !== undefined) {
      this.pending.delete(sid);
      this.pendingTotal -= entry.buf.length;
    }
    throw socketDError('BAD_FRAGMENT', message, { sid });
  }
}
