import { expect } from '@jest/globals';
import fc from 'fast-check';
import { Flags, type Flag } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { ErrorCodes, SocketDError, type ErrorKind } from '../../lib/protocol/errors.js';

/** Bytes from a hex literal; blanks and line breaks are ignored. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** Runs `fn`, expects a SocketDError of `kind`, checks code and close code, returns it. */
export function expectSocketDError(fn: () => unknown, kind: ErrorKind, message?: RegExp): SocketDError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SocketDError);
  const err = caught as SocketDError;
  expect(err.code).toBe(ErrorCodes[kind].code);
  expect(err.closeCode).toBe(ErrorCodes[kind].close);
  if (message) expect(err.message).toMatch(message);
  return err;
}

/** Every flag that carries a message. */
export const MESSAGE_FLAGS: Flag[] = [Flags.Connect, Flags.Connack, Flags.Close, Flags.Alarm, Flags.Pressure,
  Flags.Message, Flags.Request, Flags.Subscribe, Flags.Reply, Flags.ReplyEnd];

/** A string without U+0000 of at most `maxBytes` UTF-8 bytes. */
function field(maxBytes: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'binary', maxLength: maxBytes }),
    fc.string({ unit: 'binary-ascii', maxLength: maxBytes }),
  ).filter((s) => !s.includes('\u0000') && Buffer.byteLength(s) <= maxBytes);
}

/** Arbitrary valid message frames (data may hold 00 0A). */
export const arbitraryFrame: fc.Arbitrary<Frame> = fc.record({
  flag: fc.constantFrom(...MESSAGE_FLAGS),
  sid: field(64),
  event: field(80),
  metaString: field(120),
  data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});
