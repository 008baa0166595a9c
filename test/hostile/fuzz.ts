/**
 * Fuzzing over the network (issue 8): frames recorded between upstream peers
 * (test/fixtures/socketd-vectors) are mutated (bit flips, splices, truncations, length
 * tampering, random flags, invalid UTF-8, thousands of metas, bogus fragment metas, ...) and sent
 * to real servers in child processes (engine and Nest, tcp and ws), before and after Connect,
 * over many connections.
 *
 * Counted: crashes (a child died; it is restarted), unexpected throws (a child's stderr reports
 * an uncaught exception or unhandled rejection), hangs (a connection neither answered its last
 * frame nor was closed within `hangMs` of its last byte). Every connection's frames derive from
 * (seed, connection index) alone, so `--seed S --only I` replays one connection.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { encodeFrame, Flags } from '../../lib/protocol/index.js';
import { MB, RawPeer, ServerChild, VECTORS, connectFrame, requestFrame, sleep, type ChildSpec } from './harness.js';

export interface FuzzOptions {
  /** Frames to send in all (at least). */
  frames: number;
  seed: number;
  /** Connections open at once. Default 24. */
  concurrency?: number;
  /** Milliseconds after the last byte within which a connection must be answered or closed. Default 5 000. */
  hangMs?: number;
  /** Largest number of frames on one connection. Default 40. */
  maxFramesPerConnection?: number;
  /** Servers to fuzz. Default: engine and Nest over tcp and ws. */
  servers?: ChildSpec[];
  /** Replay only this connection index. */
  only?: number;
  /** Progress lines (every ~10 % of the frames). */
  log?: (line: string) => void;
}

export interface FuzzHang {
  conn: number;
  server: string;
  mode: string;
  mutations: string[];
}

export interface FuzzTotals {
  seed: number;
  framesSent: number;
  connections: number;
  refused: number;
  closedByServer: number;
  answered: number;
  crashes: number;
  uncaught: string[];
  hangs: FuzzHang[];
  peakRss: number;
  ms: number;
}

/**
 * Server options of the fuzzed children: every byte and count limit at its default; only the
 * frame and handshake timeouts are shortened, so that a truncated frame is closed within the
 * hang window rather than after the default 30 s.
 */
export const FUZZ_SERVER_OPTIONS = {
  frameTimeout: 2_000,
  handshakeTimeout: 3_000,
};

export const FUZZ_SERVERS: ChildSpec[] = [
  { kind: 'engine', schema: 'tcp', options: FUZZ_SERVER_OPTIONS },
  { kind: 'engine', schema: 'ws', options: FUZZ_SERVER_OPTIONS },
  { kind: 'nest', schema: 'tcp', options: FUZZ_SERVER_OPTIONS },
  { kind: 'nest', schema: 'ws', options: FUZZ_SERVER_OPTIONS },
];

// ---------------------------------------------------------------------------------------------
// Corpus and PRNG
// ---------------------------------------------------------------------------------------------

/** Every recorded frame file (whole-stream files and files over 64 KiB left out). */
export function loadCorpus(dir = VECTORS): Buffer[] {
  const out: Buffer[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (name.endsWith('.bin') && !name.startsWith('stream-') && st.size >= 8 && st.size <= 64 * 1024) out.push(readFileSync(p));
    }
  };
  walk(dir);
  if (out.length === 0) throw new Error(`no vectors found in ${dir}`);
  return out;
}

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

// ---------------------------------------------------------------------------------------------
// Mutators (each returns new bytes; `fixLen` rewrites the length prefix to the real size)
// ---------------------------------------------------------------------------------------------

const fixLen = (b: Buffer): Buffer => {
  if (b.length >= 4) b.writeInt32BE(b.length, 0);
  return b;
};
const BOUNDARY_LENGTHS = [0, 1, 4, 7, 8, 9, 13, 14, 15, 4096, 17_825_792, 17_825_793, 0x7fffffff, -1, -8, 0x80000000 | 0];
const FLAGS = [0, 10, 11, 20, 21, 30, 31, 32, 40, 41, 42, 48, 49, 1, 99, 255, -1, 0x7fffffff];
const BAD_UTF8 = [[0xff], [0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82], [0x00], [0x0a], [0x00, 0x0a]];
const SEP = Buffer.from([0x00, 0x0a]);

function fieldsOf(b: Buffer): { sid: string; event: string; flag: number } {
  const flag = b.length >= 8 ? b.readInt32BE(4) : Flags.Request;
  const first = b.indexOf(SEP, 8);
  const second = first < 0 ? -1 : b.indexOf(SEP, first + 2);
  return {
    flag,
    sid: first < 0 ? 'fz' : b.subarray(8, first).toString('latin1').slice(0, 40),
    event: second < 0 ? '/fz' : b.subarray(first + 2, second).toString('latin1').slice(0, 200),
  };
}

const MUTATORS: Record<string, (r: Rand, b: Buffer, corpus: Buffer[]) => Buffer> = {
  bitflip(r, b) {
    const out = Buffer.from(b);
    for (let n = 1 + int(r, 8); n > 0; n--) {
      const i = int(r, out.length);
      out[i] = out[i]! ^ (1 << int(r, 8));
    }
    return out;
  },
  splice(r, b, corpus) {
    const o = pick(r, corpus);
    const out = Buffer.concat([b.subarray(0, int(r, b.length + 1)), o.subarray(int(r, o.length + 1))]);
    return r() < 0.5 ? fixLen(out) : out;
  },
  truncate(r, b) {
    const out = Buffer.from(b.subarray(0, int(r, b.length)));
    return r() < 0.5 ? fixLen(out) : out;
  },
  length(r, b) {
    const out = Buffer.from(b.length >= 4 ? b : Buffer.concat([b, Buffer.alloc(4 - b.length)]));
    const v = r() < 0.6 ? pick(r, BOUNDARY_LENGTHS) : r() < 0.5 ? out.length + int(r, 64) - 32 : int(r, 0x7fffffff);
    out.writeInt32BE(v | 0, 0);
    return out;
  },
  flag(r, b) {
    if (b.length < 8) return Buffer.from(b);
    const out = Buffer.from(b);
    out.writeInt32BE(r() < 0.7 ? pick(r, FLAGS) : int(r, 0x7fffffff) * (r() < 0.5 ? -1 : 1), 4);
    return out;
  },
  utf8(r, b) {
    const at = 8 + int(r, Math.max(1, b.length - 7));
    const bad = Buffer.from(pick(r, BAD_UTF8));
    return fixLen(Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]));
  },
  manyMetas(r, b) {
    const f = fieldsOf(b);
    const n = 500 + int(r, 4000);
    const metas = Array.from({ length: n }, (_, i) => (r() < 0.05 ? `=${i}` : `k${i}=${i}`)).join('&');
    return rawFrame(f.flag, f.sid, f.event, metas, Buffer.from('{}'));
  },
  fragment(r, b) {
    const f = fieldsOf(b);
    const len = pick(r, [0, 1, 1024, 4096, 65_536, 8 * MB, 64 * MB, 0x7fffffff, -1]);
    const idx = pick(r, [0, 1, 2, 3, 1000, -1, 2147483647]);
    const metas = `Data-Length=${len}&Data-Fragment-Idx=${idx}&Data-Fragment-Total=${int(r, 5)}`;
    return rawFrame(pick(r, [Flags.Message, Flags.Request, Flags.Subscribe, Flags.Reply, Flags.ReplyEnd, f.flag]), f.sid, f.event, metas, Buffer.alloc(int(r, 3000), 0x66));
  },
  terminators(r, b) {
    const out = Buffer.from(b);
    if (r() < 0.5) {
      // Break one terminator.
      const i = out.indexOf(SEP, 8);
      if (i >= 0) out[i + 1] = 0x0b;
      return out;
    }
    const at = 8 + int(r, Math.max(1, b.length - 7));
    return fixLen(Buffer.concat([out.subarray(0, at), SEP, out.subarray(at)]));
  },
  oversize(r, b) {
    const f = fieldsOf(b);
    const which = int(r, 3);
    return rawFrame(
      f.flag,
      which === 0 ? 's'.repeat(65 + int(r, 2000)) : f.sid,
      which === 1 ? '/'.repeat(513 + int(r, 2000)) : f.event,
      which === 2 ? `a=${'x'.repeat(4097 + int(r, 4000))}` : '',
      Buffer.alloc(0),
    );
  },
  repeat(r, b) {
    const i = int(r, b.length);
    const j = Math.min(b.length, i + 1 + int(r, 64));
    const chunk = b.subarray(i, j);
    const times = 1 + int(r, 50);
    return fixLen(Buffer.concat([b.subarray(0, j), ...Array.from({ length: times }, () => chunk), b.subarray(j)]));
  },
  random(r) {
    const out = Buffer.alloc(int(r, 200));
    for (let i = 0; i < out.length; i++) out[i] = int(r, 256);
    return r() < 0.5 ? fixLen(out) : out;
  },
};
const MUTATOR_NAMES = Object.keys(MUTATORS);

/** A frame from raw fields (no limits checked: the encoder would refuse some of these). */
function rawFrame(flag: number, sid: string, event: string, metaString: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(sid, 'latin1'), SEP, Buffer.from(event, 'latin1'), SEP, Buffer.from(metaString), SEP, data]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(flag | 0, 4);
  return Buffer.concat([head, body]);
}

/** One mutated (or, sometimes, intact) frame and the names of what was done to it. */
function mutant(r: Rand, corpus: Buffer[]): { bytes: Buffer; done: string[] } {
  let bytes = pick(r, corpus);
  const done: string[] = [];
  const n = r() < 0.15 ? 0 : 1 + int(r, 3);
  for (let k = 0; k < n; k++) {
    const name = pick(r, MUTATOR_NAMES);
    bytes = MUTATORS[name]!(r, bytes, corpus);
    done.push(name);
  }
  if (done.length === 0) done.push('intact');
  return { bytes, done };
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

interface ConnResult {
  frames: number;
  outcome: 'refused' | 'closed' | 'answered' | 'hang';
  mode: string;
  mutations: string[];
}

async function fuzzConnection(conn: number, seed: number, child: ServerChild, corpus: Buffer[], opts: Required<Pick<FuzzOptions, 'hangMs' | 'maxFramesPerConnection'>>): Promise<ConnResult> {
  const r = prng((seed ^ Math.imul(conn + 1, 0x9e3779b1)) >>> 0);
  const schema = child.spec.schema;
  const mode = r() < 0.35 ? 'before Connect' : 'after Connect';
  const count = 1 + int(r, opts.maxFramesPerConnection);
  const frames = Array.from({ length: count }, () => mutant(r, corpus));
  const mutations = frames.slice(0, 4).map((f) => f.done.join('+'));
  const oneWrite = r() < 0.5;
  const peer = await RawPeer.open(schema, child.port, { connectTimeoutMs: 10_000 });
  if (peer.isClosed) return { frames: 0, outcome: 'refused', mode, mutations };
  try {
    if (mode === 'after Connect' && !(await peer.handshake(child.port))) {
      return { frames: 0, outcome: peer.isClosed ? 'closed' : 'hang', mode: `${mode} (handshake)`, mutations };
    }
    const probeSid = `probe${conn}`;
    const before = peer.received;
    if (schema === 'tcp' && oneWrite) peer.write(Buffer.concat(frames.map((f) => f.bytes)));
    else for (const f of frames) peer.write(f.bytes);
    let sent = frames.length;
    if (mode === 'after Connect') {
      // A valid Request last: its answer (or a close) shows the connection is not stuck.
      peer.write(requestFrame('echo', '"p"', '', Flags.Request, probeSid));
      sent++;
    } else if (r() < 0.5) {
      peer.write(connectFrame(child.port, schema));
      sent++;
    }
    const answered = () =>
      mode === 'after Connect' ? peer.frames.some((f) => f.sid === probeSid) || (peer.received > 1000 && peer.received > before) : peer.received > before;
    const end = Date.now() + opts.hangMs;
    while (!peer.isClosed && !answered() && Date.now() < end) await Promise.race([peer.closed, sleep(10)]);
    const outcome = peer.isClosed ? 'closed' : answered() ? 'answered' : 'hang';
    return { frames: sent, outcome, mode, mutations };
  } finally {
    peer.destroy();
  }
}

/** Runs the fuzzer; children are started here and always killed. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzTotals> {
  const t0 = Date.now();
  const corpus = loadCorpus();
  const specs = options.servers ?? FUZZ_SERVERS;
  const children: ServerChild[] = await Promise.all(specs.map((s) => ServerChild.start(s)));
  const totals: FuzzTotals = { seed: options.seed, framesSent: 0, connections: 0, refused: 0, closedByServer: 0, answered: 0, crashes: 0, uncaught: [], hangs: [], peakRss: 0, ms: 0 };
  const sampler = setInterval(() => {
    for (const c of children) totals.peakRss = Math.max(totals.peakRss, c.rss());
  }, 100);
  const opts = { hangMs: options.hangMs ?? 5_000, maxFramesPerConnection: options.maxFramesPerConnection ?? 40 };
  let next = options.only ?? 0;
  let lastLog = 0;
  const restarting = new Map<number, Promise<void>>();

  const childFor = async (conn: number): Promise<ServerChild> => {
    const i = conn % children.length;
    await restarting.get(i);
    const c = children[i]!;
    if (c.alive) return c;
    if (!restarting.has(i)) {
      totals.crashes++;
      for (const line of c.uncaught) totals.uncaught.push(line);
      c.uncaught.length = 0;
      options.log?.(`CRASH: ${c.spec.kind}/${c.spec.schema} died (${JSON.stringify(c.exit)}) near connection ${conn}; stderr tail: ${c.stderr.slice(-500)}`);
      restarting.set(
        i,
        ServerChild.start(c.spec).then((fresh) => {
          children[i] = fresh;
          restarting.delete(i);
        }),
      );
    }
    await restarting.get(i);
    return children[i]!;
  };

  const worker = async () => {
    while (totals.framesSent < options.frames && (options.only === undefined || next === options.only)) {
      const conn = next++;
      const child = await childFor(conn);
      const res = await fuzzConnection(conn, options.seed, child, corpus, opts);
      totals.framesSent += res.frames;
      totals.connections++;
      if (res.outcome === 'refused') totals.refused++;
      else if (res.outcome === 'closed') totals.closedByServer++;
      else if (res.outcome === 'answered') totals.answered++;
      else {
        totals.hangs.push({ conn, server: `${child.spec.kind}/${child.spec.schema}`, mode: res.mode, mutations: res.mutations });
        if (totals.hangs.length <= 10) options.log?.(`HANG: connection ${conn} on ${child.spec.kind}/${child.spec.schema} (${res.mode}): ${res.mutations.join(' | ')}`);
      }
      if (options.log && totals.framesSent - lastLog >= options.frames / 10) {
        lastLog = totals.framesSent;
        options.log(`${totals.framesSent} frames, ${totals.connections} connections, ${totals.crashes} crashes, ${totals.hangs.length} hangs, peak RSS ${(totals.peakRss / MB).toFixed(1)} MB`);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: options.only === undefined ? (options.concurrency ?? 24) : 1 }, worker));
    // Let a child that is dying from the last frames be seen.
    await sleep(200);
    for (const c of children) {
      if (!c.alive) totals.crashes++;
      totals.uncaught.push(...c.uncaught);
    }
  } finally {
    clearInterval(sampler);
    await Promise.all(children.map((c) => c.stop()));
  }
  totals.ms = Date.now() - t0;
  return totals;
}

export function describeTotals(t: FuzzTotals): string {
  return (
    `seed ${t.seed}: ${t.framesSent} frames over ${t.connections} connections in ${(t.ms / 1000).toFixed(1)} s ` +
    `(${t.closedByServer} closed by the server, ${t.answered} answered, ${t.refused} refused); ` +
    `crashes ${t.crashes}, uncaught ${t.uncaught.length}, hangs ${t.hangs.length}, peak RSS ${(t.peakRss / MB).toFixed(1)} MB`
  );
}
