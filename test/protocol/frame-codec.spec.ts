import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { EMPTY_BUFFER, MAX_DATA_BYTES, MAX_FRAME_LENGTH } from '../../lib/protocol/constants.js';
import { checkFrameLength, decodeFrame, decodeFrameAt, encodeFrame, encodeMessageFrame, newHeadCache } from '../../lib/protocol/frame-codec.js';
import { FieldCache } from '../../lib/protocol/field-cache.js';
import { Flags, type Flag } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { arbitraryFrame, expectSocketDError, hex, MESSAGE_FLAGS } from './helpers.js';

const SID_A = '0123456789abcdef0123456789abcdef';
const SID_B = 'fedcba9876543210fedcba9876543210';
const SID_B_HEX = '66 65 64 63 62 61 39 38 37 36 35 34 33 32 31 30 66 65 64 63 62 61 39 38 37 36 35 34 33 32 31 30';
const URL = 'tcp://127.0.0.1:8602/path?u=a';

function frame(flag: Flag, sid = '', event = '', metaString = '', data: Buffer = EMPTY_BUFFER): Frame {
  return { flag, sid, event, metaString, data };
}

/** A raw frame: header with the real length, then the given body bytes. */
function raw(flag: number, body: Buffer, len = 8 + body.length): Buffer {
  const buf = Buffer.alloc(8 + body.length);
  buf.writeInt32BE(len, 0);
  buf.writeInt32BE(flag, 4);
  body.copy(buf, 8);
  return buf;
}

function expectFrame(actual: Frame, expected: Frame): void {
  expect({ ...actual, data: actual.data.toString('hex') }).toEqual({ ...expected, data: expected.data.toString('hex') });
}

describe('spec section 13 worked examples', () => {
  const connectHex = `
    00 00 00 74  00 00 00 0a
    30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66
    30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66  00 0a
    74 63 70 3a 2f 2f 31 32 37 2e 30 2e 30 2e 31 3a
    38 36 30 32 2f 70 61 74 68 3f 75 3d 61           00 0a
    53 6f 63 6b 65 74 2e 44 3d 31 2e 30              00 0a
    74 63 70 3a 2f 2f 31 32 37 2e 30 2e 30 2e 31 3a
    38 36 30 32 2f 70 61 74 68 3f 75 3d 61`;
  const connect = frame(Flags.Connect, SID_A, URL, 'Socket.D=1.0', Buffer.from(URL));

  const examples: Array<[string, string, Frame]> = [
    ['Connect', connectHex, connect],
    ['Connack', connectHex.replace('00 00 00 0a', '00 00 00 0b'), { ...connect, flag: Flags.Connack }],
    ['Request', `00 00 00 38 00 00 00 29 ${SID_B_HEX} 00 0a 2f 65 63 68 6f 00 0a 61 3d 31 00 0a 68 69`,
      frame(Flags.Request, SID_B, '/echo', 'a=1', Buffer.from('hi'))],
    ['Reply', `00 00 00 35 00 00 00 30 ${SID_B_HEX} 00 0a 2f 65 63 68 6f 00 0a 00 0a 68 69`,
      frame(Flags.Reply, SID_B, '/echo', '', Buffer.from('hi'))],
    ['ReplyEnd', `00 00 00 33 00 00 00 31 ${SID_B_HEX} 00 0a 2f 65 63 68 6f 00 0a 00 0a`,
      frame(Flags.ReplyEnd, SID_B, '/echo')],
    ['Ping', '00 00 00 08 00 00 00 14', frame(Flags.Ping)],
    ['Pong', '00 00 00 08 00 00 00 15', frame(Flags.Pong)],
    ['Close 1001', '00 00 00 17 00 00 00 1e 00 0a 00 0a 63 6f 64 65 3d 31 30 30 31 00 0a', frame(Flags.Close, '', '', 'code=1001')],
    ['Close 1000', '00 00 00 17 00 00 00 1e 00 0a 00 0a 63 6f 64 65 3d 31 30 30 30 00 0a', frame(Flags.Close, '', '', 'code=1000')],
    ['Alarm', `00 00 00 3a 00 00 00 1f ${SID_B_HEX} 00 0a 2f 65 63 68 6f 00 0a 61 3d 31 00 0a 6f 6f 70 73`,
      frame(Flags.Alarm, SID_B, '/echo', 'a=1', Buffer.from('oops'))],
  ];

  it.each(examples)('%s encodes to the spec bytes and decodes back', (_name, bytes, expected) => {
    const buf = hex(bytes);
    expect(encodeFrame(expected).toString('hex')).toBe(buf.toString('hex'));
    expectFrame(decodeFrame(buf), expected);
  });

  it('Connect is 116 bytes; with token=x1 it is 125 (0x7d)', () => {
    expect(encodeFrame(connect).length).toBe(116);
    const withToken = encodeFrame({ ...connect, metaString: 'Socket.D=1.0&token=x1' });
    expect(withToken.length).toBe(125);
    expect(withToken.subarray(0, 4).toString('hex')).toBe('0000007d');
  });
});

describe('encodeFrame', () => {
  it('writes Ping/Pong as the 8-byte frame even when fields are set', () => {
    const ping = encodeFrame(frame(Flags.Ping, SID_A, '/e', 'a=1', Buffer.from('x')));
    expect(ping.toString('hex')).toBe('0000000800000014');
  });

  it('writes all three terminators for an empty message', () => {
    expect(encodeFrame(frame(Flags.Message)).toString('hex')).toBe('0000000e00000028000a000a000a');
  });

  it('allocates exactly one buffer of the frame length', () => {
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      const out = encodeFrame(frame(Flags.Request, SID_B, '/é', 'k=中文', Buffer.from('data')));
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy).toHaveBeenCalledWith(out.length);
      expect(out.readInt32BE(0)).toBe(out.length);
    } finally {
      spy.mockRestore();
    }
  });

  it('counts UTF-8 bytes, not UTF-16 units', () => {
    const out = encodeFrame(frame(Flags.Message, 'é', '中', '😀=1'));
    // 14 + 2 + 3 + 6
    expect(out.length).toBe(25);
    expectFrame(decodeFrame(out), frame(Flags.Message, 'é', '中', '😀=1'));
  });

  it('accepts fields exactly at their limits', () => {
    const f = frame(Flags.Message, 'é'.repeat(32), 'e'.repeat(512), 'm'.repeat(4096));
    expect(encodeFrame(f).length).toBe(14 + 64 + 512 + 4096);
  });

  it.each([
    ['sid', frame(Flags.Message, 's'.repeat(65)), /sid is 65 bytes, over the limit of 64/],
    ['multi-byte sid', frame(Flags.Message, 'é'.repeat(33)), /sid is 66 bytes/],
    ['event', frame(Flags.Message, '', 'e'.repeat(513)), /event is 513 bytes, over the limit of 512/],
    ['metaString', frame(Flags.Message, '', '', 'm'.repeat(4095) + 'é'), /metaString is 4097 bytes/],
  ])('refuses an over-limit %s with SIZE_LIMIT', (_name, f, message) => {
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      const err = expectSocketDError(() => encodeFrame(f), 'SIZE_LIMIT', message);
      expect(err.closeCode).toBeUndefined();
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses data over 16 MiB with SIZE_LIMIT and accepts exactly 16 MiB', () => {
    const big = Buffer.alloc(MAX_DATA_BYTES + 1);
    expectSocketDError(() => encodeFrame(frame(Flags.Message, 's', '', '', big)), 'SIZE_LIMIT', /data is 16777217 bytes/);
    const ok = encodeFrame(frame(Flags.Message, 's', '', '', big.subarray(0, MAX_DATA_BYTES)));
    expect(ok.length).toBe(14 + 1 + MAX_DATA_BYTES);
  });

  it.each(['sid', 'event', 'metaString'] as const)('refuses U+0000 in %s with INVALID_ARGUMENT', (field) => {
    const f = { ...frame(Flags.Message), [field]: 'a\u0000\nb' };
    expectSocketDError(() => encodeFrame(f), 'INVALID_ARGUMENT', new RegExp(`${field} contains U\\+0000`));
  });

  it('refuses a flag outside the table', () => {
    expectSocketDError(() => encodeFrame(frame(0 as Flag)), 'INVALID_ARGUMENT', /unknown flag 0/);
    expectSocketDError(() => encodeFrame(frame(43 as Flag)), 'INVALID_ARGUMENT', /unknown flag 43/);
  });
});

describe('decodeFrame', () => {
  it('ends a field only at 00 immediately followed by 0A; lone 00 and 0A are content', () => {
    // sid "a\0b", event "\n", metaString "\0", data "00 0a 00 0a" (never scanned)
    const buf = raw(Flags.Message, hex('61 00 62 00 0a  0a 00 0a  00 00 0a  00 0a 00 0a'));
    const f = decodeFrame(buf);
    expect(f.sid).toBe('a\u0000b');
    expect(f.event).toBe('\n');
    expect(f.metaString).toBe('\u0000');
    expect(f.data.toString('hex')).toBe('000a000a');
  });

  it('returns data as a zero-copy view of the input', () => {
    const buf = encodeFrame(frame(Flags.Message, 's', 'e', '', Buffer.from('payload')));
    const f = decodeFrame(buf);
    expect(f.data.buffer).toBe(buf.buffer);
    expect(f.data.byteOffset).toBe(buf.byteOffset + buf.length - 7);
  });

  it('accepts a Ping/Pong with a body and ignores the body', () => {
    const f = decodeFrame(raw(Flags.Pong, hex('61 00 0a 00 0a 00 0a 78')));
    expectFrame(f, frame(Flags.Pong));
  });

  it('decodes a message flag in an 8-byte frame with empty fields, as upstream', () => {
    expectFrame(decodeFrame(hex('00 00 00 08 00 00 00 1e')), frame(Flags.Close));
  });

  it('accepts fields at their limits', () => {
    const body = Buffer.concat([Buffer.alloc(64, 0x73), hex('00 0a'), Buffer.alloc(512, 0x65), hex('00 0a'), Buffer.alloc(4096, 0x6d), hex('00 0a')]);
    const f = decodeFrame(raw(Flags.Message, body));
    expect([f.sid.length, f.event.length, f.metaString.length]).toEqual([64, 512, 4096]);
  });

  describe('violations (close code 1002)', () => {
    it.each([
      ['0', '00 00 00 00 00 00 00 28', /frame length 0 is below 8/],
      ['7', '00 00 00 07 00 00 00 28', /frame length 7 is below 8/],
      ['negative', 'ff ff ff ff 00 00 00 28', /frame length -1 is below 8/],
      ['-2^31', '80 00 00 00 00 00 00 28', /frame length -2147483648/],
      ['9', '00 00 00 09 00 00 00 28 00', /frame length 9 is below 14/],
      ['13', '00 00 00 0d 00 00 00 28 00 0a 00 0a 00', /frame length 13 is below 14/],
      ['2 GiB', '7f ff ff ff 00 00 00 28', /frame length 2147483647 exceeds 17825792/],
      ['17 MiB + 1', '01 10 00 01 00 00 00 28', /frame length 17825793 exceeds 17825792/],
    ])('FRAME_LENGTH: length %s', (_name, bytes, message) => {
      expectSocketDError(() => decodeFrame(hex(bytes)), 'FRAME_LENGTH', message);
    });

    it('FRAME_LENGTH: over a custom maxFrameSize', () => {
      const buf = encodeFrame(frame(Flags.Message, 's', 'e', '', Buffer.alloc(100)));
      expectSocketDError(() => decodeFrame(buf, 64), 'FRAME_LENGTH', /exceeds 64/);
      expect(decodeFrame(buf, buf.length).data.length).toBe(100);
    });

    it('checkFrameLength accepts 8, 14 and the maximum only', () => {
      for (const ok of [8, 14, 1000, MAX_FRAME_LENGTH]) expect(() => checkFrameLength(ok)).not.toThrow();
      for (const bad of [-8, 0, 4, 7, 9, 13, MAX_FRAME_LENGTH + 1]) expectSocketDError(() => checkFrameLength(bad), 'FRAME_LENGTH');
    });

    it('BAD_MESSAGE: a message that is not exactly one frame', () => {
      const one = encodeFrame(frame(Flags.Message, 's'));
      expectSocketDError(() => decodeFrame(Buffer.concat([one, one])), 'BAD_MESSAGE', /message of 30 bytes holds a frame of length 15/);
      expectSocketDError(() => decodeFrame(one.subarray(0, 14)), 'BAD_MESSAGE', /message of 14 bytes/);
      expectSocketDError(() => decodeFrame(hex('00 00 00')), 'BAD_MESSAGE', /3 bytes/);
      expectSocketDError(() => decodeFrame(EMPTY_BUFFER), 'BAD_MESSAGE');
    });

    it.each([
      ['sid', '61 62 63 64 65 66'],
      ['event', '61 00 0a 62 63 64 65'],
      ['metaString', '61 00 0a 62 00 0a 63 64'],
      ['metaString (lone 0A only)', '00 0a 00 0a 0a 0a 0a 00'],
      ['metaString (00 0A split by the end)', '00 0a 00 0a 63 00'],
    ])('NO_TERMINATOR: %s', (name, body) => {
      const field = name.split(' ')[0];
      expectSocketDError(() => decodeFrame(raw(Flags.Message, hex(body))), 'NO_TERMINATOR', new RegExp(`^${field} has no 00 0A terminator`));
    });

    it.each([
      ['sid', Buffer.concat([Buffer.alloc(65, 0x73), hex('00 0a 00 0a 00 0a')]), /sid has no 00 0A within its limit of 64 bytes/],
      ['event', Buffer.concat([hex('00 0a'), Buffer.alloc(513, 0x65), hex('00 0a 00 0a')]), /event .* 512 bytes/],
      ['metaString', Buffer.concat([hex('00 0a 00 0a'), Buffer.alloc(4097, 0x6d), hex('00 0a')]), /metaString .* 4096 bytes/],
      ['sid without any terminator', Buffer.alloc(200, 0x73), /sid has no 00 0A within/],
    ])('FIELD_TOO_LONG: %s', (_name, body, message) => {
      expectSocketDError(() => decodeFrame(raw(Flags.Message, body)), 'FIELD_TOO_LONG', message);
    });

    it('FIELD_TOO_LONG: data over 16 MiB', () => {
      const body = Buffer.alloc(6 + MAX_DATA_BYTES + 1);
      hex('00 0a 00 0a 00 0a').copy(body);
      expectSocketDError(() => decodeFrame(raw(Flags.Message, body)), 'FIELD_TOO_LONG', /data is 16777217 bytes, over the limit of 16777216/);
    });

    it.each([0, 1, 12, 22, 33, 50, -1, 0x7fffffff])('UNKNOWN_FLAG: %d', (flag) => {
      const err = expectSocketDError(() => decodeFrame(raw(flag, hex('00 0a 00 0a 00 0a'))), 'UNKNOWN_FLAG', new RegExp(`unknown flag ${flag}`));
      expect(err.details).toEqual({ flag });
    });

    it('UNKNOWN_FLAG also for an 8-byte frame', () => {
      expectSocketDError(() => decodeFrame(hex('00 00 00 08 00 00 00 00')), 'UNKNOWN_FLAG');
    });
  });

  it('decodeFrameAt decodes a frame in the middle of a buffer', () => {
    const a = encodeFrame(frame(Flags.Message, 'a', 'x'));
    const b = encodeFrame(frame(Flags.Reply, 'b', 'y', 'k=v', Buffer.from('zz')));
    const both = Buffer.concat([a, b, a]);
    expectFrame(decodeFrameAt(both, a.length, b.length), frame(Flags.Reply, 'b', 'y', 'k=v', Buffer.from('zz')));
  });
});

// ---------------------------------------------------------------------------------------

describe('properties', () => {
  it('decode(encode(frame)) equals frame, and re-encodes to the same bytes', () => {
    fc.assert(fc.property(arbitraryFrame, (f) => {
      const bytes = encodeFrame(f);
      const back = decodeFrame(bytes);
      expectFrame(back, f);
      expect(encodeFrame(back).equals(bytes)).toBe(true);
    }), { numRuns: 500 });
  });

  it('every decode of random bytes either returns a frame or throws a SocketDError', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 64 }), fc.constantFrom(...MESSAGE_FLAGS), (body, flag) => {
      const buf = raw(flag, Buffer.from(body));
      try {
        const f = decodeFrame(buf);
        expect(f.flag).toBe(flag);
      } catch (err) {
        expect((err as { code?: string }).code).toMatch(/^SOCKETD_ERR_(NO_TERMINATOR|FIELD_TOO_LONG)$/);
      }
    }), { numRuns: 300 });
  });

  // A sequence where fields repeat (stream Replies), change, and come back; non-ASCII included.
  // Long enough for a field to miss twice, rest (16 frames uncached) and be cached again.
  const sequence = fc.array(fc.tuple(arbitraryFrame, fc.integer({ min: 1, max: 4 }), fc.boolean()), { minLength: 1, maxLength: 40 });

  it('encodeMessageFrame with a head cache writes the bytes of encodeFrame, whatever repeats', () => {
    fc.assert(fc.property(sequence, (runs) => {
      const heads = newHeadCache();
      for (const [f, times, asText] of runs) {
        for (let i = 0; i < times; i++) {
          // The same fields with other data each time.
          const bytes = f.data.subarray(Math.min(i, f.data.length));
          const data = asText ? Buffer.from(bytes.toString('utf8')) : bytes;
          const expected = encodeFrame({ ...f, data });
          const payload = asText ? data.toString('utf8') : data;
          expect(encodeMessageFrame(f.flag, f.sid, f.event, f.metaString, payload, data.length, heads).equals(expected)).toBe(true);
        }
      }
    }), { numRuns: 300 });
  });

  it('decodeFrameAt with a field cache returns the fields decodeFrameAt returns without one', () => {
    fc.assert(fc.property(sequence, (runs) => {
      const fields = new FieldCache();
      for (const [f, times] of runs) {
        for (let i = 0; i < times; i++) {
          const bytes = encodeFrame({ ...f, data: f.data.subarray(Math.min(i, f.data.length)) });
          const cached = decodeFrameAt(bytes, 0, bytes.length, fields);
          expectFrame(cached, decodeFrameAt(bytes, 0, bytes.length));
        }
      }
    }), { numRuns: 300 });
  });

  it('a repeated field keeps its checks: a sid over 64 bytes or with U+0000 is refused on every frame', () => {
    const heads = newHeadCache();
    const ok = 's'.repeat(64);
    for (let i = 0; i < 3; i++) encodeMessageFrame(Flags.Reply, ok, 'e', '', 'x', 1, heads);
    for (let i = 0; i < 3; i++) expectSocketDError(() => encodeMessageFrame(Flags.Reply, ok + 's', 'e', '', 'x', 1, heads), 'SIZE_LIMIT');
    for (let i = 0; i < 3; i++) expectSocketDError(() => encodeMessageFrame(Flags.Reply, 'a\u0000b', 'e', '', 'x', 1, heads), 'INVALID_ARGUMENT');
  });

  it('with a field cache, lone 00 and 0A bytes in repeated fields decode as without one, and a longer field is not taken for the cached one', () => {
    const fields = new FieldCache();
    const bodies = [
      hex('61 00 00 0A 65 0A 00 0A 6B 3D 76 00 0A 01'), // sid "a\0", event "e\n", meta "k=v"
      hex('61 00 00 0A 65 0A 00 0A 6B 3D 76 00 0A 02'),
      hex('61 00 62 00 0A 65 0A 00 0A 6B 3D 76 26 78 00 0A 03'), // sid "a\0b", meta "k=v&x"
      hex('61 00 00 0A 65 0A 00 0A 6B 3D 76 00 0A 04'),
    ];
    for (const body of bodies) {
      const bytes = raw(Flags.Reply, body);
      expectFrame(decodeFrameAt(bytes, 0, bytes.length, fields), decodeFrameAt(bytes, 0, bytes.length));
    }
  });
});
