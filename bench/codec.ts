/**
 * Codec micro-benchmark (`npm run bench:codec`): ns per frame to encode and decode ~60-byte
 * Reply frames, with and without the per-connection caches of repeated fields (`HeadCache` on
 * the writer, `FieldCache` on the decoders), for a stream's frames (same sid, event and
 * metaString each time) and for frames of unique sids (Requests, Messages). Same process, same
 * frames, alternating rounds; the median of 7 rounds is printed.
 */
import { encodeFrame, encodeMessageFrame, decodeFrameAt, Flags, newHeadCache, FieldCache } from '../lib/protocol/index.js';
import { median } from './stats.js';

const FRAMES = 1000;
const ROUNDS = 7;
const META = 'Data-Type=application/json';

const streamSids = Array.from({ length: FRAMES }, () => 'f3a9c2d4e5b6a7980123456789abcdef');
const uniqueSids = Array.from({ length: FRAMES }, (_, i) => i.toString(16).padStart(32, 'a'));
const payloads = Array.from({ length: FRAMES }, (_, i) => String(i));

function encodeAll(sids: string[], cached: boolean): Buffer[] {
  const heads = cached ? newHeadCache() : undefined;
  const out = new Array<Buffer>(FRAMES);
  for (let i = 0; i < FRAMES; i++) {
    const data = payloads[i]!;
    out[i] = encodeMessageFrame(Flags.Reply, sids[i]!, 'stream', META, data, data.length, heads);
  }
  return out;
}

function decodeAll(frames: Buffer[], cached: boolean): number {
  const fields = cached ? new FieldCache() : undefined;
  let n = 0;
  for (const f of frames) n += decodeFrameAt(f, 0, f.length, fields).sid.length;
  return n;
}

/** ns per frame of `fn` over `reps` batches of FRAMES frames. */
function time(fn: () => unknown, reps: number): number {
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < reps; r++) fn();
  return Number(process.hrtime.bigint() - t0) / (reps * FRAMES);
}

const cases: [string, () => unknown][] = [];
for (const [kind, sids] of [['stream frames', streamSids], ['unique sids', uniqueSids]] as const) {
  const frames = sids.map((sid, i) => encodeFrame({ flag: Flags.Reply, sid, event: 'stream', metaString: META, data: Buffer.from(payloads[i]!) }));
  cases.push([`encode, ${kind}, no cache`, () => encodeAll(sids, false)]);
  cases.push([`encode, ${kind}, HeadCache`, () => encodeAll(sids, true)]);
  cases.push([`decode, ${kind}, no cache`, () => decodeAll(frames, false)]);
  cases.push([`decode, ${kind}, FieldCache`, () => decodeAll(frames, true)]);
}

for (const [, fn] of cases) time(fn, 300); // warm-up: every path optimised before timing
const results = cases.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) {
  cases.forEach(([, fn], i) => results[i]!.push(time(fn, 200)));
}
console.log('| case | ns per frame (median of 7) |');
console.log('| --- | ---: |');
cases.forEach(([name], i) => console.log(`| ${name} | ${median(results[i]!).toFixed(0)} |`));
