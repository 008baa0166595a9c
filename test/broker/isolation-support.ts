/** Pieces of the broker isolation tests: raw players by the hundred, a paced good client, RSS. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { encodeFrame, Flags, FrameDecoder } from '../../lib/protocol/index.js';
import type { SdClient } from '../../lib/session/client.js';

/** VmRSS of a process in bytes (0 once gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every 20 ms until `stop()`, which returns the growth over the first sample. */
export function watchRss(pid: number): { stop(): { baseline: number; peak: number; growth: number } } {
  const baseline = rssOf(pid);
  let peak = baseline;
  const timer = setInterval(() => { peak = Math.max(peak, rssOf(pid)); }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, rssOf(pid));
      return { baseline, peak, growth: peak - baseline };
    },
  };
}

/** A player on a raw tcp socket: handshakes as `?@=name`, then reads (counting Messages) or not. */
export interface RawPlayer {
  /** Messages received (a reading player). */
  readonly messages: number;
  /** Writes raw bytes (frames) to the broker. */
  write(bytes: Buffer): void;
  close(): void;
}

/**
 * Opens `count` raw players named `name` on the broker at `port`, spread over loopback source
 * addresses 127.0.0.2, .3, ... (at most 200 per address: the broker's default
 * `maxConnectionsPerAddress` is 256). `read: false`: each stops reading once handshaken.
 */
export async function rawPlayers(port: number, name: string, count: number, read: boolean): Promise<RawPlayer[]> {
  const open = (i: number): Promise<RawPlayer> => new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + Math.floor(i / 200)}` });
    let messages = 0;
    let open = false;
    const decoder = new FrameDecoder((frame) => {
      if (frame.flag === Flags.Connack && !open) {
        open = true;
        if (!read) socket.pause();
        resolve(player);
      } else if (frame.flag === Flags.Message) {
        messages++;
      }
    });
    const player: RawPlayer = { get messages() { return messages; }, write: (bytes) => socket.write(bytes), close: () => socket.destroy() };
    socket.on('error', (err) => { if (!open) reject(err); });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.once('connect', () => {
      const link = `tcp://127.0.0.1:${port}/?@=${name}`;
      socket.write(encodeFrame({ flag: Flags.Connect, sid: `c${i}`, event: link, metaString: 'Socket.D=1.0', data: Buffer.from(link) }));
    });
  });
  const players: RawPlayer[] = [];
  // A few at a time: the broker's accept backlog and handshake timeout stay out of the picture.
  for (let i = 0; i < count; i += 50) {
    players.push(...await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => open(i + k))));
  }
  return players;
}

/** Latencies and failures of a good client's calls, by the time each call started. */
export interface CallLog {
  readonly calls: { start: number; ms: number; ok: boolean; error?: string }[];
  /** Stops starting calls; resolves once the started ones ended (or after `ms`). */
  stop(ms?: number): Promise<void>;
}

/**
 * Starts a Request to `@=target` every `everyMs` on `client` (open loop: a slow answer does not
 * slow the pace, as real callers do not wait for each other), each with the client's default
 * timeout, until `stop()`.
 */
export function pacedCalls(client: SdClient, target: string, everyMs = 10): CallLog {
  const calls: CallLog['calls'] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const start = Date.now();
    const entry: CallLog['calls'][number] = { start, ms: -1, ok: false };
    calls.push(entry);
    const p = client.request('/echo', 'ping', { metas: `@=${target}` }).then(
      (m) => { entry.ok = m.dataAsString() === 'ping'; },
      (err: Error) => { entry.error = err.message; },
    ).finally(() => { entry.ms = Date.now() - start; pending.delete(p); });
    pending.add(p);
  }, everyMs);
  return {
    calls,
    stop: async (ms = 15_000) => {
      clearInterval(timer);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...pending]), new Promise((r) => (wait = setTimeout(r, ms)))]);
      clearTimeout(wait);
    },
  };
}

/** The p-th percentile (0..100) of the answered calls' latencies, in ms. */
export function p(calls: CallLog['calls'], pct: number): number {
  const sorted = calls.filter((c) => c.ok).map((c) => c.ms).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((pct / 100) * sorted.length) - 1)]!;
}
