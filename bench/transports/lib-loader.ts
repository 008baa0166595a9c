/**
 * Loads our library at run time (`lib/index.ts`, compiled to dist-bench/lib/index.js) without
 * a static import, so the harness compiles and runs the baselines before the library exports
 * what the Socket.D rows need. Rows whose exports are missing are reported as "unavailable".
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Lib = Record<string, any>;

/**
 * `lib/index.js` first; a name it does not export (yet) is looked up in the layer barrels, and
 * the report says so. Paths are relative to dist-bench/bench/transports/.
 */
const CANDIDATES = ['lib/index.js', 'lib/engine.js', 'lib/nest/index.js', 'lib/session/index.js'];
let cached: Promise<Map<string, Lib>> | undefined;
const fallbacks = new Map<string, string>();

const firstLine = (err: unknown) => (err instanceof Error ? err.message.split('\n')[0] : String(err));

async function loadAll(): Promise<Map<string, Lib>> {
  const mods = new Map<string, Lib>();
  for (const rel of CANDIDATES) {
    try {
      mods.set(rel, (await import(new URL(`../../${rel}`, import.meta.url).href)) as Lib);
    } catch (err) {
      if (rel === CANDIDATES[0]) mods.set('error', { message: firstLine(err) });
    }
  }
  return mods;
}

/** Resolves `names` from the library, or the reason one is missing. */
export async function requireExports(names: readonly string[]): Promise<Lib | string> {
  cached ??= loadAll();
  const mods = await cached;
  const out: Lib = {};
  const missing: string[] = [];
  for (const name of names) {
    let found = false;
    for (const [rel, mod] of mods) {
      if (rel === 'error' || mod[name] === undefined) continue;
      out[name] = mod[name];
      if (rel !== CANDIDATES[0]) fallbacks.set(name, rel);
      found = true;
      break;
    }
    if (!found) missing.push(name);
  }
  if (missing.length === 0) return out;
  const err = mods.get('error');
  return `lib/index.ts does not export ${missing.join(', ')} yet${err ? ` (${String(err.message)})` : ''}`;
}

/** Where the library was loaded from (after requireExports()). */
export function libSource(): string {
  if (fallbacks.size === 0) return 'lib/index.js';
  const by = new Map<string, string[]>();
  for (const [name, rel] of fallbacks) by.set(rel, [...(by.get(rel) ?? []), name]);
  return `lib/index.js, except ${[...by].map(([rel, n]) => `${n.join(', ')} from ${rel}`).join('; ')} (not exported by lib/index.js yet)`;
}

/**
 * Finds the bound port on whatever a server exposes: `address()` (net.Server,
 * ws.WebSocketServer, an engine server), a `port` property, or `unwrap()` / a nested server.
 */
export function findPort(x: unknown, depth = 0): number | undefined {
  if (!x || typeof x !== 'object' || depth > 4) return undefined;
  const o = x as Record<string, any>;
  if (typeof o.address === 'function') {
    try {
      const a = o.address();
      if (a && typeof a === 'object' && typeof a.port === 'number' && a.port > 0) return a.port;
    } catch {
      /* not listening or not an address() we know */
    }
  }
  if (typeof o.port === 'number' && o.port > 0) return o.port;
  if (typeof o.unwrap === 'function') {
    try {
      const inner = o.unwrap();
      if (inner !== o) {
        const p = findPort(inner, depth + 1);
        if (p) return p;
      }
    } catch {
      /* nothing to unwrap yet */
    }
  }
  for (const key of ['server', 'httpServer', '_server', 'transport', 'sdServer', 'engine']) {
    if (o[key] && o[key] !== o) {
      const p = findPort(o[key], depth + 1);
      if (p) return p;
    }
  }
  return undefined;
}

/** Byte length of whatever a client got back for a binary payload. */
export function replyBytes(r: unknown): number {
  if (Buffer.isBuffer(r) || r instanceof Uint8Array) return r.byteLength;
  if (typeof r === 'string') return Buffer.byteLength(r);
  if (r && typeof r === 'object') {
    const o = r as { data?: unknown; length?: unknown };
    if (Array.isArray(o.data)) return o.data.length;
    if (o.data && (Buffer.isBuffer(o.data) || o.data instanceof Uint8Array)) return (o.data as Uint8Array).byteLength;
  }
  return -1;
}
