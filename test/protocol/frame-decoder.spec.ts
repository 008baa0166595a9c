import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { EMPTY_BUFFER, MAX_FRAME_LENGTH } from '../../lib/protocol/constants.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { FrameDecoder } from '../../lib/protocol/frame-decoder.js';
import { Flags } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { arbitraryFrame, expectSocketDError, hex } from './helpers.js';

const PING = hex('00 00 00 08 00 00 00 14');
const REQUEST = encodeFrame({ flag: Flags.Request, sid: 'abc', event: '/echo', metaString: 'a=1', data: Buffer.from('hello') });
const REPLY = encodeFrame({ flag: Flags.Reply, sid: 'abc', event: '/echo', metaString: '', data: hex('00 0a 00 0a') });

function collect(options?: { maxFrameSize?: number }): { decoder: FrameDecoder; frames: Frame[] } {
  const frames: Frame[] = [];
  return { decoder: new FrameDecoder((f) => frames.push(f), options), frames };
}

function summary(frames: Frame[]): string[] {
  return frames.map((f) => `${f.flag}|${f.sid}|${f.event}|${f.metaString}|${f.data.toString('hex')}`);
}

describe('FrameDecoder', () => {
  it('decodes many frames from one chunk, in place (zero copy)', () => {
    const { decoder, frames } = collect();
    const chunk = Buffer.concat([REQUEST, PING, REPLY]);
    decoder.push(chunk);
    expect(summary(frames)).toEqual(['41|abc|/echo|a=1|68656c6c6f', '20||||', '48|abc|/echo||000a000a']);
    expect(frames[0].data.buffer).toBe(chunk.buffer);
    expect(frames[2].data.buffer).toBe(chunk.buffer);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('assembles a frame spanning writes into one exactly-sized buffer', () => {
    const { decoder, frames } = collect();
    const last = Buffer.concat([REQUEST.subarray(10), PING]);
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      decoder.push(REQUEST.subarray(0, 2));
      decoder.push(REQUEST.subarray(2, 10));
      expect(decoder.bufferedBytes).toBe(10);
      expect(spy).not.toHaveBeenCalled();
      decoder.push(last);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy).toHaveBeenCalledWith(REQUEST.length);
    } finally {
      spy.mockRestore();
    }
    expect(summary(frames)).toEqual(['41|abc|/echo|a=1|68656c6c6f', '20||||']);
    expect(frames[1].data).toBe(EMPTY_BUFFER);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('holds only a view of the incomplete tail of a chunk', () => {
    const { decoder, frames } = collect();
    decoder.push(Buffer.concat([PING, REQUEST.subarray(0, 3)]));
    expect(frames).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(3);
  });

  it('decodes at every split point into two chunks and one byte at a time', () => {
    const stream = Buffer.concat([REQUEST, PING, REPLY, PING, REQUEST]);
    const expected = ['41|abc|/echo|a=1|68656c6c6f', '20||||', '48|abc|/echo||000a000a', '20||||', '41|abc|/echo|a=1|68656c6c6f'];
    for (let cut = 0; cut <= stream.length; cut++) {
      const { decoder, frames } = collect();
      decoder.push(stream.subarray(0, cut));
      decoder.push(stream.subarray(cut));
      expect(summary(frames)).toEqual(expected);
      expect(decoder.bufferedBytes).toBe(0);
    }
    const { decoder, frames } = collect();
    for (let i = 0; i < stream.length; i++) decoder.push(stream.subarray(i, i + 1));
    expect(summary(frames)).toEqual(expected);
  });

  it('ignores empty chunks', () => {
    const { decoder, frames } = collect();
    decoder.push(EMPTY_BUFFER);
    decoder.push(PING.subarray(0, 2));
    decoder.push(EMPTY_BUFFER);
    decoder.push(PING.subarray(2));
    expect(frames).toHaveLength(1);
  });

  describe('length prefix checked before buffering', () => {
    it.each([
      ['2 GiB', '7f ff ff ff'],
      ['negative', 'ff ff ff f0'],
      ['17 MiB + 1', '01 10 00 01'],
      ['5', '00 00 00 05'],
      ['10', '00 00 00 0a'],
    ])('%s throws FRAME_LENGTH as soon as 4 bytes are there, allocating nothing', (_name, prefix) => {
      const spies = [jest.spyOn(Buffer, 'allocUnsafe'), jest.spyOn(Buffer, 'alloc'), jest.spyOn(Buffer, 'concat')];
      try {
        const { decoder, frames } = collect();
        const bytes = hex(prefix);
        decoder.push(bytes.subarray(0, 1));
        decoder.push(bytes.subarray(1, 3));
        expect(decoder.bufferedBytes).toBe(3);
        expectSocketDError(() => decoder.push(bytes.subarray(3)), 'FRAME_LENGTH', /frame length -?\d+ (is below|exceeds)/);
        expect(decoder.bufferedBytes).toBe(0);
        expect(frames).toHaveLength(0);
        for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      } finally {
        for (const spy of spies) spy.mockRestore();
      }
    });

    it('a 2 GiB prefix in the middle of a chunk throws without buffering its body', () => {
      const { decoder, frames } = collect();
      expectSocketDError(() => decoder.push(Buffer.concat([PING, hex('7f ff ff ff 00 00 00 28'), Buffer.alloc(64)])), 'FRAME_LENGTH', /2147483647 exceeds 17825792/);
      expect(frames).toHaveLength(1);
      expect(decoder.bufferedBytes).toBe(0);
    });

    it('honours a custom maxFrameSize', () => {
      const { decoder } = collect({ maxFrameSize: 20 });
      expectSocketDError(() => decoder.push(REQUEST.subarray(0, 4)), 'FRAME_LENGTH', /exceeds 20/);
    });

    it('refuses a maxFrameSize outside 14..17 MiB', () => {
      for (const bad of [0, 13, MAX_FRAME_LENGTH + 1, 1.5, Number.NaN]) {
        expectSocketDError(() => new FrameDecoder(() => undefined, { maxFrameSize: bad }), 'INVALID_ARGUMENT', /maxFrameSize/);
      }
    });
  });

  describe('violations', () => {
    it.each([
      ['UNKNOWN_FLAG', hex('00 00 00 0e 00 00 00 63 00 0a 00 0a 00 0a')],
      ['NO_TERMINATOR', hex('00 00 00 0e 00 00 00 28 00 0a 00 0a 0a 00')],
      ['FIELD_TOO_LONG', Buffer.concat([hex('00 00 00 50 00 00 00 28'), Buffer.alloc(66, 0x61), hex('00 0a 00 0a 00 0a')])],
    ] as const)('%s in a spanning frame and in place, close code 1002', (kind, bad) => {
      for (const chunks of [[bad], [bad.subarray(0, 5), bad.subarray(5)], [PING, Buffer.concat([bad, PING])]]) {
        const { decoder } = collect();
        const err = expectSocketDError(() => chunks.forEach((c) => decoder.push(c)), kind);
        expect(err.closeCode).toBe(1002);
      }
    });

    it('stays failed until reset, then decodes again', () => {
      const { decoder, frames } = collect();
      const first = expectSocketDError(() => decoder.push(hex('7f ff ff ff')), 'FRAME_LENGTH');
      expect(() => decoder.push(PING)).toThrow(first);
      expect(frames).toHaveLength(0);
      decoder.reset();
      decoder.push(PING);
      expect(frames).toHaveLength(1);
    });

    it('an exception from onFrame propagates and fails the decoder', () => {
      const boom = new Error('boom');
      let calls = 0;
      const decoder = new FrameDecoder(() => {
        calls++;
        throw boom;
      });
      expect(() => decoder.push(Buffer.concat([PING, PING]))).toThrow(boom);
      expect(() => decoder.push(PING)).toThrow(boom);
      expect(calls).toBe(1);
    });
  });

  it('reset() inside onFrame stops delivery of the rest of the chunk', () => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder((f) => {
      frames.push(f);
      if (f.flag === Flags.Request) decoder.reset();
    });
    decoder.push(Buffer.concat([PING, REQUEST, PING, REQUEST.subarray(0, 5)]));
    expect(frames.map((f) => f.flag)).toEqual([Flags.Ping, Flags.Request]);
    expect(decoder.bufferedBytes).toBe(0);
    decoder.push(PING);
    expect(frames).toHaveLength(3);
  });

  it('reset() drops a partial frame', () => {
    const { decoder, frames } = collect();
    decoder.push(REQUEST.subarray(0, 9));
    decoder.reset();
    expect(decoder.bufferedBytes).toBe(0);
    decoder.push(PING);
    expect(summary(frames)).toEqual(['20||||']);
  });

  it('assembles a 16 MiB frame from 64 KiB chunks with one copy', () => {
    const data = Buffer.alloc(16 * 1024 * 1024, 0x5a);
    data.writeUInt32BE(0xdeadbeef, data.length - 4);
    const bytes = encodeFrame({ flag: Flags.Message, sid: 's', event: '/big', metaString: '', data });
    const { decoder, frames } = collect();
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      for (let i = 0; i < bytes.length; i += 65536) decoder.push(bytes.subarray(i, i + 65536));
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy).toHaveBeenCalledWith(bytes.length);
    } finally {
      spy.mockRestore();
    }
    expect(frames).toHaveLength(1);
    expect(frames[0].data.equals(data)).toBe(true);
  });

  it('property: any split of a concatenation of random frames decodes to the same frames', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(arbitraryFrame, fc.constant<Frame>({ flag: Flags.Pong, sid: '', event: '', metaString: '', data: EMPTY_BUFFER })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (input, cutSeeds) => {
        const stream = Buffer.concat(input.map(encodeFrame));
        const cuts = [...new Set(cutSeeds.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const { decoder, frames } = collect();
        let prev = 0;
        for (const cut of [...cuts, stream.length]) {
          decoder.push(stream.subarray(prev, cut));
          prev = cut;
        }
        expect(summary(frames)).toEqual(summary(input));
        expect(decoder.bufferedBytes).toBe(0);
      },
    ), { numRuns: 300 });
  });
});
