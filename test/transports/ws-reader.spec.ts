// WsReader alone: the same bytes cut at every offset (and into single bytes) give the same
// messages and control frames, and what it holds is counted in bufferedBytes.
import { describe, expect, it } from '@jest/globals';
import { WsReader, type WsReaderSink } from '../../lib/transports/ws-reader.js';
import { closeBody, OP, wsFrame } from './ws-wire.js';

class Sink implements WsReaderSink {
  readonly events: string[] = [];
  onBinary(payload: Buffer): void {
    this.events.push(`bin:${payload.length}:${payload.toString('hex').slice(0, 16)}:${payload.subarray(-4).toString('hex')}`);
  }
  onControl(opcode: number, payload: Buffer): void {
    this.events.push(`ctl:${opcode}:${payload.toString('hex')}`);
  }
}

function stream(masked: boolean): Buffer {
  const mask = masked ? Buffer.from([0x11, 0x22, 0x33, 0x44]) : undefined;
  const big = Buffer.alloc(70_000);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  return Buffer.concat([
    wsFrame(OP.BINARY, Buffer.from('hello'), { mask }),
    wsFrame(OP.BINARY, big.subarray(0, 300), { mask, fin: false }),
    wsFrame(OP.PING, Buffer.from('pp'), { mask }),
    wsFrame(OP.CONT, Buffer.alloc(0), { mask, fin: false }),
    wsFrame(OP.CONT, big.subarray(300, 1000), { mask, lengthForm: 64 }),
    wsFrame(OP.BINARY, big, { mask }),
    wsFrame(OP.PONG, Buffer.alloc(0), { mask }),
    wsFrame(OP.BINARY, Buffer.from('x'), { mask, lengthForm: 16 }),
    wsFrame(OP.CLOSE, closeBody(1000, 'ok'), { mask }),
  ]);
}

function feed(bytes: Buffer, cuts: number[], masked: boolean): { events: string[]; held: number[] } {
  const sink = new Sink();
  const reader = new WsReader(sink, masked, 1024 * 1024);
  const held: number[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A copy: the reader unmasks in place, and each chunk is its own memory, as from a socket.
    reader.push(Buffer.from(bytes.subarray(from, cut)));
    held.push(reader.bufferedBytes);
    from = cut;
  }
  return { events: sink.events, held };
}

describe('WsReader', () => {
  it.each([true, false])('masked=%s: a stream cut at every offset reads the same; nothing is held between messages', (masked) => {
    const bytes = stream(masked);
    const whole = feed(bytes, [], masked);
    expect(whole.events).toHaveLength(7);
    expect(whole.events[1]).toBe(`ctl:${OP.PING}:7070`);
    expect(whole.events[2]).toMatch(/^bin:1000:/);
    expect(whole.held).toEqual([0]);
    // Every offset of the first ~1200 bytes (all the small frames and headers), then every 997th.
    for (let cut = 1; cut < bytes.length; cut += cut < 1200 ? 1 : 997) {
      const split = feed(bytes, [cut], masked);
      expect(split.events).toEqual(whole.events);
      expect(split.held[1]).toBe(0);
    }
  });

  it('one byte at a time: the same messages; held bytes never exceed a message and its header', () => {
    const bytes = stream(true);
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    const { events, held } = feed(bytes, cuts, true);
    expect(events).toEqual(feed(bytes, [], true).events);
    expect(Math.max(...held)).toBeLessThanOrEqual(70_000 + 14);
    expect(held.at(-1)).toBe(0);
  });
});
