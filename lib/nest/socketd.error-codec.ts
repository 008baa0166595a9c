/**
 * Nest error values <-> Socket.D Alarms: what a failed handler's error becomes on the wire
 * (readable text and the `code` meta for upstream peers, the exact value in the `X-Nest-Err`
 * meta) and what a failed call hands to its Nest subscriber.
 */
import type { LoggerService } from '@nestjs/common';
import { describeError, isSocketDError } from '../engine.js';
import type { Metas, ReceivedMessage, Session } from '../session/types.js';
import { ALARM_CODE_META, NEST_ERROR_IN_DATA, NEST_ERROR_IN_TEXT, NEST_ERROR_META } from './socketd.constants.js';

/** An Alarm to send for a failed handler: readable text and the metas carrying the exact value. */
interface NestErrorAlarm {
  text: string;
  metas: Metas;
}

// Metas are capped at 4 KiB per frame, and the engine echoes the request's metas into the
// Alarm (spec 7.3): keep the encoded value well below, or carry it in the data instead.
const MAX_META_VALUE = 1024;

/**
 * Encodes a Nest error value (what the exception filters produced: `{ status, message }`, an
 * `RpcException`'s object, or a string) as an Alarm. The data is a human message, so upstream
 * peers (whose requesters fail with the Alarm's text) read something sensible; an integer
 * `code` of the value (`new RpcException({ code: 4001, message })`) becomes the Alarm's `code`
 * meta, which upstream peers read as the alarm code; the meta `X-Nest-Err` lets a
 * {@link SocketDClient} recover the exact value.
 */
export function encodeNestError(err: unknown): NestErrorAlarm {
  if (typeof err === 'string') return { text: err, metas: { [NEST_ERROR_META]: NEST_ERROR_IN_TEXT } };
  const text = humanMessage(err);
  const code = integerCode(err);
  const metas: Metas = code === undefined ? {} : { [ALARM_CODE_META]: String(code) };
  let json: string | undefined;
  try {
    json = JSON.stringify(err);
  } catch {
    json = undefined;
  }
  if (json === undefined) {
    // Not JSON-encodable (cycles, BigInt): fall back to Nest's generic shape.
    json = JSON.stringify({ status: 'error', message: text });
  }
  const encoded = encodeURIComponent(json);
  if (encoded.length <= MAX_META_VALUE) return { text, metas: { ...metas, [NEST_ERROR_META]: encoded } };
  return { text: json, metas: { ...metas, [NEST_ERROR_META]: NEST_ERROR_IN_DATA } };
}

/**
 * The alarm code a failed call carries, whoever answered: the integer `code` of a Nest error
 * value (an `RpcException`'s object from a Nest Socket.D server), or the `code` meta of an
 * Alarm from any other peer (`SocketDError` with `details.alarmCode`). Undefined when there
 * is none (or it is 0, "no code" on the wire).
 */
export function alarmCodeOf(err: unknown): number | undefined {
  if (isSocketDError(err, 'ALARM')) {
    const code = err.details?.['alarmCode'];
    return typeof code === 'number' && code !== 0 ? code : undefined;
  }
  const code = integerCode(err);
  return code === 0 ? undefined : code;
}

/**
 * Answers a received Request or Subscribe with an Alarm carrying the Nest error value `err`.
 * Never throws: a failure to send it (the session is gone) is logged.
 */
export function sendNestAlarm(session: Session, message: ReceivedMessage, err: unknown, logger: LoggerService): void {
  const { text, metas } = encodeNestError(err);
  try {
    session.alarm(message, text, metas);
  } catch (alarmErr) {
    logger.error(`Socket.D: cannot send an Alarm for '${message.event}': ${describeError(alarmErr)}`);
  }
}

/**
 * The value a Nest subscriber receives for a failed call: the exact Nest error value for an
 * Alarm from a Nest Socket.D server; the `SocketDError` itself otherwise (an Alarm from an
 * upstream peer, a timeout, a closed connection).
 */
export function decodeCallError(err: unknown): unknown {
  if (!isSocketDError(err, 'ALARM')) return err;
  const alarm = err.details?.['alarm'] as ReceivedMessage | undefined;
  const flag = alarm?.meta(NEST_ERROR_META);
  if (alarm === undefined || flag === undefined) return err;
  try {
    if (flag === NEST_ERROR_IN_TEXT) return alarm.dataAsString();
    if (flag === NEST_ERROR_IN_DATA) return JSON.parse(alarm.dataAsString());
    return JSON.parse(decodeURIComponent(flag));
  } catch {
    return err;
  }
}

// The `code` of an error value when the Alarm's `code` meta can carry it: an int32 integer
// (Java reads the meta with Integer.parseInt and fails on anything else), or a string of one.
function integerCode(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const raw = (err as { code?: unknown }).code;
  const code = typeof raw === 'string' && /^-?\d{1,10}$/.test(raw) ? Number(raw) : raw;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < -2_147_483_648 || code > 2_147_483_647) return undefined;
  return code;
}

// A readable one-line message for an error value (the text of its Alarm).
function humanMessage(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  if (err !== null && typeof err === 'object') {
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    if (Array.isArray(message)) return message.map(String).join('; ');
  }
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
