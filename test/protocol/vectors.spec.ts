/**
 * Every frame recorded between real upstream peers (test/fixtures/socketd-vectors): decode to
 * the index entry, re-encode to the same bytes, stream-decode the Java streams at every split,
 * reassemble the fragment sets.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFrame, encodeFrame } from '../../lib/protocol/frame-codec.js';
import { FrameDecoder } from '../../lib/protocol/frame-decoder.js';
import { flagName } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { FragmentAggregator, isFragment } from '../../lib/protocol/fragments.js';
import { parseMetas } from '../../lib/protocol/metas.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VECTORS = path.join(REPO_ROOT, 'test/fixtures/socketd-vectors');
const JAVA = path.join(VECTORS, 'java-tcp');
const JAVA_FRAGMENT_SHA256 = 'ba6dc7e17d2979fdbdbff37f6dd23edb9df50e6cacc466606b4aef4a10d4a147';

/** An entry of the top-level index.json `frames` (fields of Ping/Pong entries are absent). */
interface JsPyEntry {
  file: string;
  set: string;
  conn: number;
  direction: 'c2s' | 's2c';
  seq: number;
  order: number;
  flag: number;
  flagName: string;
  frameLength: number;
  sid?: string;
  event?: string;
  metaString?: string;
  metas?: Record<string, string>;
  dataLength?: number;
  dataSha256?: string;
  dataText?: string | null;
  truncated?: boolean;
  storedLength?: number;
  fileSha256: string;
}

/** An entry of java-tcp/index.json (fields of Ping/Pong entries are null). */
interface JavaEntry {
  file: string;
  direction: 'c2s' | 's2c';
  flag: number;
  flagName: string;
  len: number;
  sid: string | null;
  event: string | null;
  metaString: string | null;
  dataLength: number;
  dataSha256: string | null;
  dataText: string | null;
  conn: number;
}

/** What every vector is checked against, whichever index it comes from. */
interface Expected {
  file: string;
  flag: number;
  flagName: string;
  frameLength: number;
  sid: string;
  event: string;
  metaString: string;
  metas?: Record<string, string>;
  dataLength: number;
  dataSha256?: string;
  dataText?: string | null;
  storedLength?: number;
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}
function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

const jsPy = readJson<{ frames: JsPyEntry[] }>(path.join(VECTORS, 'index.json')).frames;
const java = readJson<JavaEntry[]>(path.join(JAVA, 'index.json'));
const streams = readJson<{ streams: Array<{ file: string; length: number; sha256: string; frames: string[] }> }>(path.join(JAVA, 'streams.json')).streams;

const expectations: Expected[] = [
  ...jsPy.map((e): Expected => ({
    file: path.join(VECTORS, e.file), flag: e.flag, flagName: e.flagName, frameLength: e.frameLength,
    sid: e.sid ?? '', event: e.event ?? '', metaString: e.metaString ?? '', metas: e.metas,
    dataLength: e.dataLength ?? 0, dataSha256: e.dataSha256, dataText: e.dataText,
    storedLength: e.truncated ? e.storedLength : undefined,
  })),
  ...java.map((e): Expected => ({
    file: path.join(JAVA, e.file), flag: e.flag, flagName: e.flagName, frameLength: e.len,
    sid: e.sid ?? '', event: e.event ?? '', metaString: e.metaString ?? '',
    dataLength: e.dataLength, dataSha256: e.dataSha256 ?? undefined, dataText: e.dataText,
  })),
];

describe('recorded vectors', () => {
  it('finds every set', () => {
    expect(jsPy.length).toBe(246);
    expect(java.length).toBe(66);
    expect(new Set(jsPy.map((e) => e.set))).toEqual(new Set(['tcp-py', 'tcp-py-frag', 'ws-js', 'ws-js-frag', 'ws-js-idle', 'ws-py-client', 'ws-py-server']));
  });

  describe.each(expectations.map((e) => [path.relative(VECTORS, e.file), e] as const))('%s', (_name, e) => {
    const bytes = readFileSync(e.file);

    function checkHeader(frame: Frame): void {
      expect(frame.flag).toBe(e.flag);
      expect(flagName(frame.flag)).toBe(e.flagName);
      expect(frame.sid).toBe(e.sid);
      expect(frame.event).toBe(e.event);
      expect(frame.metaString).toBe(e.metaString);
      expect({ ...parseMetas(frame.metaString) }).toEqual(e.metas ?? { ...parseMetas(e.metaString) });
    }

    if (e.storedLength === undefined) {
      it('decodes to its index entry and re-encodes to the same bytes', () => {
        expect(bytes.length).toBe(e.frameLength);
        const frame = decodeFrame(bytes);
        checkHeader(frame);
        expect(frame.data.length).toBe(e.dataLength);
        if (e.dataSha256 !== undefined) expect(sha256(frame.data)).toBe(e.dataSha256);
        if (typeof e.dataText === 'string') expect(frame.data.toString('utf8')).toBe(e.dataText);
        expect(encodeFrame(frame).equals(bytes)).toBe(true);
      });
    } else {
      it('(truncated) holds the header of its index entry', () => {
        const stored = e.storedLength!;
        expect(bytes.length).toBe(stored);
        expect(bytes.readInt32BE(0)).toBe(e.frameLength);
        // Decode the stored prefix as if it were the whole frame: same header, shorter data.
        const prefix = Buffer.from(bytes);
        prefix.writeInt32BE(stored, 0);
        const frame = decodeFrame(prefix);
        checkHeader(frame);
        const headerBytes = e.frameLength - e.dataLength;
        expect(frame.data.length).toBe(stored - headerBytes);
        expect(frame.data.length).toBeGreaterThan(0);
      });
    }
  });
});

describe('java-tcp streams', () => {
  describe.each(streams.map((s) => [s.file, s] as const))('%s', (_name, stream) => {
    const bytes = readFileSync(path.join(JAVA, stream.file));
    const expected = stream.frames.map((f) => readFileSync(path.join(JAVA, f)).toString('hex'));

    function decodeChunks(chunks: Buffer[]): string[] {
      const frames: string[] = [];
      const decoder = new FrameDecoder((f) => frames.push(encodeFrame(f).toString('hex')));
      for (const chunk of chunks) decoder.push(chunk);
      expect(decoder.bufferedBytes).toBe(0);
      return frames;
    }

    it('is the listed frame files concatenated', () => {
      expect(bytes.length).toBe(stream.length);
      expect(sha256(bytes)).toBe(stream.sha256);
      expect(Buffer.concat(stream.frames.map((f) => readFileSync(path.join(JAVA, f)))).equals(bytes)).toBe(true);
    });

    it('decodes whole into the listed frames', () => {
      expect(decodeChunks([bytes])).toEqual(expected);
    });

    it('decodes at every split point into two chunks', () => {
      for (let cut = 0; cut <= bytes.length; cut++) {
        const got = decodeChunks([bytes.subarray(0, cut), bytes.subarray(cut)]);
        if (got.length !== expected.length || got.some((g, i) => g !== expected[i])) {
          throw new Error(`split at ${cut} decoded differently`);
        }
      }
    });

    it('decodes one byte at a time', () => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
      expect(decodeChunks(chunks)).toEqual(expected);
    });
  });
});

describe('fragment sets reassemble', () => {
  interface Reassembled { set: string; file: string; frame: Frame; fragments: Frame[] }

  /** Runs the frames of one set through one aggregator per connection and direction. */
  function reassemble(set: string, entries: Array<{ file: string; conn: number; direction: string; order: number; truncated?: boolean }>): Reassembled[] {
    const truncatedSids = new Set<string>();
    const frames = entries.map((e) => {
      const bytes = readFileSync(e.file);
      if (e.truncated) {
        const prefix = Buffer.from(bytes);
        prefix.writeInt32BE(bytes.length, 0);
        truncatedSids.add(decodeFrame(prefix).sid);
        return undefined;
      }
      return { e, frame: decodeFrame(bytes) };
    });
    const aggregators = new Map<string, FragmentAggregator>();
    const parts = new Map<string, Frame[]>();
    const out: Reassembled[] = [];
    for (const item of frames) {
      if (!item || !isFragment(item.frame) || truncatedSids.has(item.frame.sid)) continue;
      const key = `${item.e.conn}/${item.e.direction}`;
      let agg = aggregators.get(key);
      if (!agg) aggregators.set(key, agg = new FragmentAggregator({ maxMessageSize: 1 << 20, maxPendingBytes: 1 << 20 }));
      const partKey = `${key}/${item.frame.sid}`;
      parts.set(partKey, [...(parts.get(partKey) ?? []), item.frame]);
      const whole = agg.add(item.frame);
      if (whole) {
        out.push({ set, file: path.relative(VECTORS, item.e.file), frame: whole, fragments: parts.get(partKey)! });
        parts.delete(partKey);
      }
    }
    for (const agg of aggregators.values()) expect(agg.size).toBe(0);
    return out;
  }

  const javaEntries = java.map((e, order) => ({ file: path.join(JAVA, e.file), conn: e.conn, direction: e.direction, order }));
  const sets = [...new Set(jsPy.map((e) => e.set))];
  const bySet = new Map<string, Reassembled[]>([
    ['java-tcp', reassemble('java-tcp', javaEntries)],
    ...sets.map((set) => [set, reassemble(set, jsPy.filter((e) => e.set === set).sort((a, b) => a.seq - b.seq || a.order - b.order)
      .map((e) => ({ ...e, file: path.join(VECTORS, e.file) })))] as const),
  ]);

  it('java-tcp 038-040, 041-043 and 046-048 give the recorded 2500-byte payload', () => {
    const java3 = bySet.get('java-tcp')!;
    expect(java3.map((r) => r.file)).toEqual(['java-tcp/040-c2s-request-frag3.bin', 'java-tcp/043-s2c-reply-frag3.bin', 'java-tcp/048-c2s-reply-frag3.bin']);
    for (const r of java3) {
      expect(r.frame.data.length).toBe(2500);
      expect(sha256(r.frame.data)).toBe(JAVA_FRAGMENT_SHA256);
      expect(r.frame.metaString).not.toContain('Data-Fragment-Idx');
      expect(parseMetas(r.frame.metaString)['Data-Length']).toBe('2500');
    }
    // Spec section 8: delivered metas = first fragment's minus Data-Fragment-Idx, Java order kept.
    expect(java3[0].frame.metaString).toBe('a=1&Data-Length=2500&Data-Fragment-Total=3');
    expect(java3[1].frame.metaString).toBe('r=1&Data-Length=2500&Data-Fragment-Total=3');
  });

  it.each(['ws-js-frag', 'tcp-py-frag', 'ws-py-client', 'ws-py-server'])('%s: every fragmented message completes with its Data-Length bytes', (set) => {
    const done = bySet.get(set)!;
    expect(done.length).toBeGreaterThanOrEqual(3);
    for (const r of done) {
      const declared = Number(parseMetas(r.frame.metaString)['Data-Length']);
      expect(r.frame.data.length).toBe(declared);
      expect(r.frame.data.equals(Buffer.concat(r.fragments.map((f) => f.data)))).toBe(true);
    }
    // The /echo reply carries back the request's payload.
    const echoes = done.filter((r) => r.frame.event === '/echo');
    expect(new Set(echoes.map((r) => sha256(r.frame.data))).size).toBe(1);
    expect(echoes.map((r) => r.frame.flag).sort()).toEqual([41, 48]);
  });
});
