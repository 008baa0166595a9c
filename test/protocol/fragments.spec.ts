import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EMPTY_BUFFER } from '../../lib/protocol/constants.js';
import { Flags, type Flag } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { FRAGMENT_CHUNK_OVERHEAD, FragmentAggregator, fragmentFrame, isFragment } from '../../lib/protocol/fragments.js';
import { expectSocketDError } from './helpers.js';

const KIB = 1024;

function message(data: Buffer, metaString = '', flag: Flag = Flags.Request, sid = 'sid1'): Frame {
  return { flag, sid, event: '/big', metaString, data };
}

function payload(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

function aggregator(maxMessageSize = 1 << 20, maxPendingBytes = 1 << 21): FragmentAggregator {
  return new FragmentAggregator({ maxMessageSize, maxPendingBytes });
}

describe('fragmentFrame', () => {
  it('returns the frame itself when the data fits', () => {
    const f = message(payload(KIB));
    expect(fragmentFrame(f, KIB)).toEqual([f]);
    expect(fragmentFrame(f, KIB)[0]).toBe(f);
  });

  it('splits 2500 bytes at 1024 like the JS peer (ws-js-frag metas)', () => {
    const data = payload(2500);
    const parts = fragmentFrame(message(data, 'big=1'), KIB);
    expect(parts.map((p) => p.metaString)).toEqual([
      'big=1&Data-Length=2500&Data-Fragment-Idx=1&Data-Fragment-Total=3',
      'Data-Fragment-Idx=2&Data-Fragment-Total=3',
      'Data-Fragment-Idx=3&Data-Fragment-Total=3',
    ]);
    expect(parts.map((p) => p.data.length)).toEqual([1024, 1024, 452]);
    expect(parts.every((p) => p.flag === Flags.Request && p.sid === 'sid1' && p.event === '/big')).toBe(true);
    expect(parts.every((p) => p.data.buffer === data.buffer)).toBe(true);
    expect(Buffer.concat(parts.map((p) => p.data)).equals(data)).toBe(true);
  });

  it('adds no & before the fragment metas when the original metaString is empty', () => {
    expect(fragmentFrame(message(payload(2048 + 1)), KIB)[0].metaString).toBe('Data-Length=2049&Data-Fragment-Idx=1&Data-Fragment-Total=3');
  });

  it('leaves frames with flags that are not fragmentable whole', () => {
    const alarm = message(payload(5000), 'code=1', Flags.Alarm);
    expect(fragmentFrame(alarm, KIB)).toEqual([alarm]);
  });

  it.each([0, 1023, 16 * 1024 * 1024 + 1, 1500.5, Number.NaN])('refuses fragmentSize %d', (size) => {
    expectSocketDError(() => fragmentFrame(message(payload(10)), size), 'INVALID_ARGUMENT', /fragmentSize/);
  });
});

describe('isFragment', () => {
  it.each([
    ['Data-Fragment-Idx=1', Flags.Message, true],
    ['a=1&Data-Fragment-Idx=2', Flags.ReplyEnd, true],
    ['a=1&Data-Fragment-Idx=2', Flags.Alarm, false],
    ['a=Data-Fragment-Idx=2', Flags.Reply, false],
    ['XData-Fragment-Idx=2', Flags.Subscribe, false],
    ['Data-Fragment-Idx', Flags.Request, false],
    ['Data-Length=5', Flags.Request, false],
  ] as const)('%s with flag %d: %s', (meta, flag, expected) => {
    expect(isFragment(message(EMPTY_BUFFER, meta, flag))).toBe(expected);
  });
});

describe('FragmentAggregator', () => {
  it('round-trips fragmentFrame output and keeps metas minus Data-Fragment-Idx', () => {
    const data = payload(2500);
    const agg = aggregator();
    const parts = fragmentFrame(message(data, 'a=1'), KIB);
    expect(agg.add(parts[0])).toBeUndefined();
    expect(agg.size).toBe(1);
    expect(agg.pendingBytes).toBe(KIB + FRAGMENT_CHUNK_OVERHEAD); // what arrived, not the declared 2500
    expect(agg.add(parts[1])).toBeUndefined();
    const whole = agg.add(parts[2]);
    expect(whole).toBeDefined();
    expect(whole!.metaString).toBe('a=1&Data-Length=2500&Data-Fragment-Total=3');
    expect([whole!.flag, whole!.sid, whole!.event]).toEqual([Flags.Request, 'sid1', '/big']);
    expect(whole!.data.equals(data)).toBe(true);
    expect(agg.size).toBe(0);
    expect(agg.pendingBytes).toBe(0);
  });

  it('passes frames that are not fragments through unchanged', () => {
    const agg = aggregator();
    const f = message(payload(10), 'a=1');
    expect(agg.add(f)).toBe(f);
    const alarm = message(payload(10), 'Data-Fragment-Idx=1', Flags.Alarm);
    expect(agg.add(alarm)).toBe(alarm);
  });

  it('delivers a single fragment holding all its Data-Length at once, without copying', () => {
    const data = payload(2500);
    const f = message(data, 'big=1&Data-Length=2500&Data-Fragment-Idx=1&Data-Fragment-Total=2501&echoed=1', Flags.Reply);
    const whole = aggregator().add(f)!;
    expect(whole.data).toBe(data);
    expect(whole.metaString).toBe('big=1&Data-Length=2500&Data-Fragment-Total=2501&echoed=1');
  });

  it('completes by byte count, ignoring Data-Fragment-Total (Python writes a byte count)', () => {
    const agg = aggregator();
    expect(agg.add(message(payload(1024), 'Data-Length=2000&Data-Fragment-Idx=1&Data-Fragment-Total=2001'))).toBeUndefined();
    expect(agg.add(message(payload(976), 'Data-Fragment-Idx=2&Data-Fragment-Total=2001'))!.data.length).toBe(2000);
  });

  it('interleaves sids', () => {
    const agg = aggregator();
    const a = fragmentFrame(message(payload(3000), 'x=a', Flags.Request, 'A'), KIB);
    const b = fragmentFrame(message(payload(2100), 'x=b', Flags.Reply, 'B'), KIB);
    const out = [a[0], b[0], a[1], b[1], b[2], a[2]].map((f) => agg.add(f));
    expect(out.map((f) => f?.sid)).toEqual([undefined, undefined, undefined, undefined, 'B', 'A']);
    expect(out[4]!.data.equals(payload(2100))).toBe(true);
    expect(out[5]!.data.equals(payload(3000))).toBe(true);
  });

  describe('violations', () => {
    it('BAD_FRAGMENT: first fragment without Data-Length', () => {
      expectSocketDError(() => aggregator().add(message(payload(10), 'Data-Fragment-Idx=1')), 'BAD_FRAGMENT', /no valid Data-Length/);
    });

    it.each(['-1', '1e3', ' 5', '0x10', ''])('BAD_FRAGMENT: Data-Length %j', (length) => {
      expectSocketDError(() => aggregator().add(message(payload(10), `Data-Length=${length}&Data-Fragment-Idx=1`)), 'BAD_FRAGMENT');
    });

    it.each(['0', 'x', '-1', ''])('BAD_FRAGMENT: Data-Fragment-Idx %j', (idx) => {
      expectSocketDError(() => aggregator().add(message(payload(10), `Data-Length=20&Data-Fragment-Idx=${idx}`)), 'BAD_FRAGMENT', /bad Data-Fragment-Idx/);
    });

    it('BAD_FRAGMENT: a later fragment without fragment 1', () => {
      expectSocketDError(() => aggregator().add(message(payload(10), 'Data-Fragment-Idx=2')), 'BAD_FRAGMENT', /fragment 2 of sid sid1 arrived without fragment 1/);
    });

    it('BAD_FRAGMENT: out-of-order or repeated index, and the partial message is dropped', () => {
      const parts = fragmentFrame(message(payload(3500)), KIB);
      for (const wrong of [parts[2], parts[0]]) {
        const agg = aggregator();
        agg.add(parts[0]);
        expectSocketDError(() => agg.add(wrong), 'BAD_FRAGMENT', /expected 2/);
        expect(agg.size).toBe(0);
        expect(agg.pendingBytes).toBe(0);
      }
    });

    it('BAD_FRAGMENT: more bytes than Data-Length', () => {
      const agg = aggregator();
      expectSocketDError(() => agg.add(message(payload(100), 'Data-Length=50&Data-Fragment-Idx=1')), 'BAD_FRAGMENT', /more than its Data-Length 50/);
      agg.add(message(payload(60), 'Data-Length=100&Data-Fragment-Idx=1'));
      expectSocketDError(() => agg.add(message(payload(41), 'Data-Fragment-Idx=2')), 'BAD_FRAGMENT', /exceed their Data-Length 100/);
      expect(agg.pendingBytes).toBe(0);
    });

    it('MESSAGE_TOO_LARGE: Data-Length over maxMessageSize, before allocating', () => {
      const agg = aggregator(4096, 1 << 30);
      const err = expectSocketDError(() => agg.add(message(payload(1024), 'Data-Length=2147483647&Data-Fragment-Idx=1')), 'MESSAGE_TOO_LARGE', /2147483647 bytes exceeds maxMessageSize 4096/);
      expect(err.closeCode).toBeUndefined(); // recoverable: the connection stays open
      expect(agg.size).toBe(0);
    });

    it('MESSAGE_TOO_LARGE: bytes received over maxPendingBytes, at any fragment; the message is then skipped', () => {
      const per = KIB + FRAGMENT_CHUNK_OVERHEAD;
      const agg = aggregator(1 << 20, 3 * per + 100);
      for (const sid of ['A', 'B', 'C']) agg.add(message(payload(KIB), 'Data-Length=1000000&Data-Fragment-Idx=1', Flags.Request, sid));
      expect(agg.pendingBytes).toBe(3 * per);
      expectSocketDError(() => agg.add(message(payload(KIB), 'Data-Length=3000&Data-Fragment-Idx=1', Flags.Request, 'D')), 'MESSAGE_TOO_LARGE', /over maxPendingBytes/);
      // A later fragment that does not fit drops its whole message (first's flag and event in the details).
      const err = expectSocketDError(() => agg.add(message(payload(KIB), 'Data-Fragment-Idx=2', Flags.Reply, 'A')), 'MESSAGE_TOO_LARGE', /refused after 1024 bytes/);
      expect(err.details).toMatchObject({ sid: 'A', flag: Flags.Request, event: '/big' });
      expect([agg.size, agg.pendingBytes]).toEqual([2, 2 * per]);
      expect(agg.add(message(payload(KIB), 'Data-Fragment-Idx=3', Flags.Request, 'A'))).toBeUndefined(); // skipped
      agg.clear();
      expect([agg.size, agg.pendingBytes]).toEqual([0, 0]);
    });

    it('draws every byte it holds from its memory account, never the declared length, and gives it all back', () => {
      let used = 0;
      const memory = { take: (n: number) => (used + n <= 10 * KIB ? (used += n, true) : false), give: (n: number) => { used -= n; } };
      const agg = new FragmentAggregator({ maxMessageSize: 1 << 30, maxPendingBytes: 1 << 30, memory });
      agg.add(message(payload(KIB), 'Data-Length=1000000000&Data-Fragment-Idx=1', Flags.Request, 'A'));
      expect(used).toBe(KIB + FRAGMENT_CHUNK_OVERHEAD);
      const parts = fragmentFrame(message(payload(4 * KIB), '', Flags.Request, 'B'), KIB);
      for (const part of parts.slice(0, 3)) agg.add(part);
      expect(used).toBe(4 * (KIB + FRAGMENT_CHUNK_OVERHEAD));
      expect(agg.add(parts[3])!.data.equals(payload(4 * KIB))).toBe(true);
      expect(used).toBe(KIB + FRAGMENT_CHUNK_OVERHEAD);
      for (let i = 2; i < 10; i++) agg.add(message(payload(KIB), `Data-Fragment-Idx=${i}`, Flags.Request, 'A'));
      expectSocketDError(() => agg.add(message(payload(KIB), 'Data-Fragment-Idx=10', Flags.Request, 'A')), 'MESSAGE_TOO_LARGE', /no room in the memory budget/);
      expect([agg.size, used]).toEqual([0, 0]);
    });

    it('refuses bad options', () => {
      expectSocketDError(() => new FragmentAggregator({ maxMessageSize: -1, maxPendingBytes: 1 }), 'INVALID_ARGUMENT', /maxMessageSize/);
      expectSocketDError(() => new FragmentAggregator({ maxMessageSize: 1, maxPendingBytes: 0.5 }), 'INVALID_ARGUMENT', /maxPendingBytes/);
    });
  });

  it('property: fragment then aggregate gives back the message', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 1024, max: 4096 }), fc.constantFrom('', 'a=1', 'k=v&x=y=z'), (size, fragmentSize, meta) => {
      const data = payload(size);
      const agg = aggregator();
      const parts = fragmentFrame(message(data, meta), fragmentSize);
      const outs = parts.map((p) => agg.add(p));
      const whole = outs[outs.length - 1]!;
      expect(outs.slice(0, -1).every((o) => o === undefined)).toBe(true);
      expect(whole.data.equals(data)).toBe(true);
      if (parts.length === 1) expect(whole.metaString).toBe(meta);
      else expect(whole.metaString).toBe(`${meta ? `${meta}&` : ''}Data-Length=${size}&Data-Fragment-Total=${parts.length}`);
      expect(agg.size).toBe(0);
    }), { numRuns: 200 });
  });
});
