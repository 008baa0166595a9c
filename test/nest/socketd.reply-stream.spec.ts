import { describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { range, Subject } from 'rxjs';
import { Flags } from '../../lib/protocol/flags.js';
import type { Metas, Payload, ReceivedMessage, Session } from '../../lib/session/types.js';
import { SocketDSerializer } from '../../lib/nest/index.js';
import { ReplyStream } from '../../lib/nest/socketd.reply-stream.js';

interface Sent {
  kind: 'reply' | 'replyEnd' | 'alarm';
  data: string | undefined;
  metas: Metas | undefined;
}

/** A session that records answers and reports saturation after `capacity` frames until drained. */
function fakeSession(capacity = Infinity) {
  const sent: Sent[] = [];
  let inBuffer = 0;
  let drainers: (() => void)[] = [];
  const text = (data: Payload | undefined) => (data === undefined ? undefined : Buffer.from(data as Uint8Array).toString());
  const record = (kind: Sent['kind'], data: Payload | undefined, metas: Metas | undefined) => {
    sent.push({ kind, data: typeof data === 'string' ? data : text(data), metas });
    return ++inBuffer < capacity;
  };
  const session = {
    reply: (_to: ReceivedMessage, data?: Payload, metas?: Metas) => record('reply', data, metas),
    replyEnd: (_to: ReceivedMessage, data?: Payload, metas?: Metas) => record('replyEnd', data, metas),
    alarm: (_to: ReceivedMessage, textData: string, metas?: Metas) => record('alarm', textData, metas),
    drain: () => (inBuffer < capacity ? Promise.resolve() : new Promise<void>((resolve) => drainers.push(resolve))),
  } as unknown as Session;
  const flush = () => {
    inBuffer = 0;
    const waiting = drainers;
    drainers = [];
    for (const resolve of waiting) resolve();
  };
  return { session, sent, flush, waiting: () => drainers.length };
}

function message(subscribe: boolean): ReceivedMessage {
  return { flag: subscribe ? Flags.Subscribe : Flags.Request, sid: 's1', event: 'e', isSubscribe: subscribe, isRequest: true } as unknown as ReceivedMessage;
}

const logger = new Logger('test');
const settleCounter = () => {
  const c = { count: 0, fn: () => c.count++ };
  return c;
};

describe('ReplyStream', () => {
  it('sends a one-value Observable as a Reply and an empty ReplyEnd', () => {
    const { session, sent } = fakeSession();
    const settled = settleCounter();
    range(7, 1).subscribe(new ReplyStream(session, message(true), new SocketDSerializer(), 100, logger, settled.fn));
    expect(sent.map((s) => [s.kind, s.data, s.metas])).toEqual([['reply', '7', 'Data-Type=application/json'], ['replyEnd', undefined, undefined]]);
    expect(settled.count).toBe(1);
  });

  it('answers a plain value (answerOne) with one ReplyEnd carrying it, on a Subscribe too', () => {
    const { session, sent } = fakeSession();
    const settled = settleCounter();
    new ReplyStream(session, message(true), new SocketDSerializer(), 100, logger, settled.fn).answerOne('hi');
    expect(sent.map((s) => [s.kind, s.data])).toEqual([['replyEnd', 'hi']]);
    expect(settled.count).toBe(1);
  });

  it('sends every value as a Reply, then an empty ReplyEnd', () => {
    const { session, sent } = fakeSession();
    range(0, 3).subscribe(new ReplyStream(session, message(true), new SocketDSerializer(), 100, logger, () => {}));
    expect(sent.map((s) => [s.kind, s.data])).toEqual([['reply', '0'], ['reply', '1'], ['reply', '2'], ['replyEnd', undefined]]);
  });

  it('sends each value at once, without waiting for the next one or the end', () => {
    const { session, sent } = fakeSession();
    const source = new Subject<number>();
    source.subscribe(new ReplyStream(session, message(true), new SocketDSerializer(), 100, logger, () => {}));
    source.next(1);
    expect(sent.map((s) => [s.kind, s.data])).toEqual([['reply', '1']]);
    source.complete();
    expect(sent.map((s) => s.kind)).toEqual(['reply', 'replyEnd']);
    expect(sent[1]!.data).toBeUndefined();
  });

  it('stops writing while saturated and resumes in order after drain', async () => {
    const fake = fakeSession(10);
    const settled = settleCounter();
    range(0, 1000).subscribe(new ReplyStream(fake.session, message(true), new SocketDSerializer(), 10_000, logger, settled.fn));
    // The producer is synchronous: everything past the 10th frame waits in the queue.
    expect(fake.sent).toHaveLength(10);
    expect(fake.waiting()).toBe(1);
    while (settled.count === 0) {
      fake.flush();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(fake.sent).toHaveLength(1001);
    expect(fake.sent.slice(0, 1000).map((s) => [s.kind, Number(s.data)])).toEqual([...Array(1000).keys()].map((i) => ['reply', i]));
    expect([fake.sent.at(-1)!.kind, fake.sent.at(-1)!.data]).toEqual(['replyEnd', undefined]);
  });

  it('fails the stream with an Alarm past maxQueued and stops the producer', () => {
    const fake = fakeSession(1);
    const settled = settleCounter();
    let produced = 0;
    const stream = new ReplyStream(fake.session, message(true), new SocketDSerializer(), 50, logger, settled.fn);
    const source = new Subject<number>();
    source.subscribe(stream);
    for (let i = 0; i < 200 && !stream.closed; i++) {
      produced++;
      source.next(i);
    }
    expect(produced).toBeLessThan(60);
    expect(fake.sent.at(-1)!.kind).toBe('alarm');
    expect(settled.count).toBe(1);
    expect(source.observed).toBe(false);
  });

  it('answers a Request with the one value once the handler completes', () => {
    const { session, sent } = fakeSession();
    const source = new Subject<number>();
    source.subscribe(new ReplyStream(session, message(false), new SocketDSerializer(), 100, logger, () => {}));
    source.next(1);
    expect(sent).toEqual([]);
    source.complete();
    expect(sent.map((s) => [s.kind, s.data])).toEqual([['replyEnd', '1']]);
  });

  it('fails a Request whose handler produces a second value (never just the first) and unsubscribes', () => {
    const { session, sent } = fakeSession();
    const source = new Subject<number>();
    source.subscribe(new ReplyStream(session, message(false), new SocketDSerializer(), 100, logger, () => {}));
    source.next(1);
    source.next(2);
    expect(sent.map((s) => s.kind)).toEqual(['alarm']);
    expect(sent[0]!.data).toMatch(/produces several values, but a Request has one answer: call it with a Subscribe/);
    expect(source.observed).toBe(false);
  });

  it('sends the error as an Alarm after the values before it', () => {
    const { session, sent } = fakeSession();
    const source = new Subject<number>();
    source.subscribe(new ReplyStream(session, message(true), new SocketDSerializer(), 100, logger, () => {}));
    source.next(1);
    source.error({ status: 'error', message: 'bad' });
    expect(sent.map((s) => s.kind)).toEqual(['reply', 'alarm']);
    expect(sent[1]!.data).toBe('bad');
    expect(JSON.parse(decodeURIComponent(sent[1]!.metas!['X-Nest-Err']!))).toEqual({ status: 'error', message: 'bad' });
  });

  it('cancel() unsubscribes the producer and sends nothing more', () => {
    const { session, sent } = fakeSession();
    const settled = settleCounter();
    const source = new Subject<number>();
    const stream = new ReplyStream(session, message(true), new SocketDSerializer(), 100, logger, settled.fn);
    source.subscribe(stream);
    source.next(1);
    stream.cancel();
    source.next(2);
    expect(source.observed).toBe(false);
    expect(settled.count).toBe(1);
    // The value before the cancel was sent at once; nothing after it, not even a ReplyEnd.
    expect(sent.map((s) => [s.kind, s.data])).toEqual([['reply', '1']]);
  });
});
