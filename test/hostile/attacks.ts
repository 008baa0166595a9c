/**
 * The attacks of issues 8 and 19, each a plan for `runAttack()`: the hostile suite runs them at
 * `TEST_SCALE`, `npm run stress` at `STRESS_SCALE`. Servers run with the DEFAULT limits: every
 * byte and count limit (memory budget, frame and message sizes, write buffer, streams) is the
 * default; only the timeouts an attack's end waits for (idle, frame, handshake) are shortened,
 * to keep the suite short. Each returns what became of its attackers.
 */
import { Flags } from '../../lib/protocol/index.js';
import {
  MB,
  PING,
  RawPeer,
  connectFrame,
  nextSid,
  requestFrame,
  sleep,
  tally,
  wsFrames,
  ATTACKER_ADDRESS,
  DEFAULT_MEMORY_BUDGET_PER_ADDRESS,
  type AttackOutcome,
  type AttackPlan,
  type AttackResult,
  type Schema,
  type ServerChild,
  type ServerKind,
} from './harness.js';

export interface Scale {
  /** Milliseconds a Ping flood lasts. */
  floodMs: number;
  /** First fragments of distinct sids sent by one peer. */
  fragmentSids: number;
  /** Subscribes to `huge` on the Nest server (never read). */
  nestSubscribes: number;
  /** Milliseconds the Nest attacker holds its unread streams. */
  nestHoldMs: number;
  /** Subscribes never answered on one session. */
  openStreams: number;
  /** Connections each holding a partial frame. */
  partialConnections: number;
  /** Bytes sent one byte per write. */
  oneByteBytes: number;
  /** Longest a trickled frame is kept up (ms). */
  trickleMaxMs: number;
  /** How long a server has to close an attacker once the attack is over (ms). */
  closeWaitMs: number;
  /** Connections each sending 62 of the 63 1 MiB fragments of two messages. */
  fragmentConnections: number;
  /** Connections each holding a first fragment that declares 63 MiB. */
  declaredConnections: number;
  /** Connections each holding 16 MiB of a 17 MiB frame. */
  bigPartialConnections: number;
}

export const TEST_SCALE: Scale = {
  floodMs: 2_000,
  fragmentSids: 70_000,
  nestSubscribes: 600,
  nestHoldMs: 2_500,
  openStreams: 100_000,
  partialConnections: 150,
  oneByteBytes: MB,
  trickleMaxMs: 6_000,
  closeWaitMs: 15_000, // an upper bound: each wait ends as soon as the server closed the attacker
  fragmentConnections: 4,
  declaredConnections: 200,
  bigPartialConnections: 12,
};

export const STRESS_SCALE: Scale = {
  floodMs: 15_000,
  fragmentSids: 200_000,
  nestSubscribes: 3_000,
  nestHoldMs: 15_000,
  openStreams: 400_000,
  partialConnections: 1_000,
  oneByteBytes: 4 * MB,
  trickleMaxMs: 20_000,
  closeWaitMs: 15_000,
  fragmentConnections: 40,
  declaredConnections: 250,
  bigPartialConnections: 40,
};

/** Server options: none, every limit at its default. */
const DEFAULTS = {};
/** The timeouts that end some attacks, shortened so that the suite does not wait a minute for them. */
const SHORT_TIMEOUTS = { idleTimeout: 3_000, frameTimeout: 2_000, handshakeTimeout: 3_000 };

/** Opens a reading peer (from `localAddress`, default the attackers' address) and handshakes; throws if the server did not accept it. */
async function handshaken(child: ServerChild, localAddress?: string): Promise<RawPeer> {
  const peer = await RawPeer.open(child.spec.schema, child.port, { localAddress });
  if (!(await peer.handshake(child.port))) throw new Error('attacker handshake failed');
  return peer;
}

/** Writes `frames` in batches (tcp: concatenated; ws: one message each), honouring this side's buffer; stops once closed. Returns how many were sent. */
async function sendMany(peer: RawPeer, count: number, make: (i: number) => Buffer, batch = 500): Promise<number> {
  let i = 0;
  while (i < count && !peer.isClosed) {
    const n = Math.min(batch, count - i);
    if (peer.schema === 'tcp') {
      const parts: Buffer[] = [];
      for (let k = 0; k < n; k++) parts.push(make(i + k));
      peer.write(Buffer.concat(parts));
    } else {
      for (let k = 0; k < n; k++) peer.write(make(i + k));
    }
    i += n;
    while (peer.buffered > MB && !peer.isClosed) await peer.drained(50);
  }
  return i;
}

/** (1) Ping flood from a peer that never reads its Pongs. */
function pingFlood(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'ping flood, never reading',
    // Reading from a peer that does not read stops (bounded memory); its idle timeout, which
    // nothing resets while reading is paused, then disconnects it.
    spec: { kind: 'engine', schema, options: { idleTimeout: SHORT_TIMEOUTS.idleTimeout } },
    async run(child) {
      const peer = await handshaken(child);
      peer.pause();
      // 8192 Pings per write on both transports (over ws as 8192 WebSocket messages).
      const batch = schema === 'tcp' ? Buffer.concat(Array.from({ length: 8192 }, () => PING)) : wsFrames(PING, 8192);
      let pings = 0;
      const end = Date.now() + scale.floodMs;
      while (Date.now() < end && !peer.isClosed) {
        peer.writeRawSocket(batch);
        pings += 8192;
        // Our own queue stays bounded: a server that stopped reading stalls us here.
        while (peer.buffered > 4 * MB && !peer.isClosed && Date.now() < end) await peer.drained(50);
        await new Promise((r) => setImmediate(r));
      }
      await peer.waitClosed(scale.closeWaitMs, true);
      peer.destroy();
      return tally([peer], `${pings} Pings in ${scale.floodMs} ms`);
    },
  };
}

/** (2) First fragments of many sids, never completed. */
function fragmentSids(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'first fragments of many sids',
    spec: { kind: 'engine', schema, options: DEFAULTS },
    async run(child) {
      const peer = await handshaken(child);
      const data = Buffer.alloc(1024, 0x61);
      const sent = await sendMany(peer, scale.fragmentSids, () =>
        requestFrame('echo', data, 'Data-Length=4096&Data-Fragment-Idx=1&Data-Fragment-Total=4'),
      );
      await peer.waitClosed(scale.closeWaitMs);
      peer.destroy();
      return tally([peer], `${sent} first fragments (1 KiB of a declared 4 KiB each)`);
    },
  };
}

/** (3) Nest: Subscribes to a huge stream, never read. */
function nestHuge(scale: Scale): AttackPlan {
  return {
    name: 'Nest: Subscribes to huge streams, never reading',
    spec: { kind: 'nest', schema: 'tcp', options: { idleTimeout: SHORT_TIMEOUTS.idleTimeout } },
    async run(child) {
      const peer = await handshaken(child);
      peer.pause();
      await sendMany(peer, scale.nestSubscribes, () => requestFrame('huge', '0', '', Flags.Subscribe));
      // Hold the streams unread (no probing yet: a Ping would count as liveness).
      await sleep(scale.nestHoldMs);
      await peer.waitClosed(scale.closeWaitMs, true);
      peer.destroy();
      return tally([peer], `${scale.nestSubscribes} Subscribes to range(0, 1e6), held ${scale.nestHoldMs} ms unread`);
    },
  };
}

/**
 * (4) Many open Subscribe streams on one session, never answered. Each open stream is charged
 * 2 KiB in the memory budget: past the connection's share they are refused with Alarms.
 */
function openStreams(kind: ServerKind, schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'open Subscribe streams on one session',
    spec: { kind, schema, options: DEFAULTS },
    async run(child) {
      const peer = await handshaken(child);
      const sent = await sendMany(peer, scale.openStreams, () => requestFrame('never', '', '', Flags.Subscribe), 1000);
      await roundTrip(peer, scale.closeWaitMs);
      await settled([peer], scale.closeWaitMs);
      peer.destroy();
      return tally([peer], `${sent} Subscribes sent, ${peer.alarms} refused with an Alarm`);
    },
    verify: (r) => (r.outcome.closed === 0 && (r.outcome.alarmed ?? 0) === 0 ? ['streams were neither refused nor the attacker closed'] : []),
  };
}

/** (5) Many connections each holding a partial frame, before and after Connect. */
function partialFrames(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'connections holding partial frames',
    spec: { kind: 'engine', schema, options: SHORT_TIMEOUTS },
    async run(child) {
      const peers: RawPeer[] = [];
      const kinds = ['partial Connect', 'partial Request after Connect', 'huge declared frame after Connect'];
      for (let i = 0; i < scale.partialConnections; i++) {
        const peer = await RawPeer.open(schema, child.port, { connectTimeoutMs: 5_000 });
        peers.push(peer);
        if (peer.isClosed) continue;
        const kind = i % 3;
        if (kind === 0) {
          // Before Connect: half a Connect frame, cut inside its event field (no terminator yet).
          const connect = connectFrame(child.port, schema);
          peer.write(connect.subarray(0, 20), false);
          continue;
        }
        peer.write(connectFrame(child.port, schema));
        // The Connack is not awaited (held connections pile up faster); the frame follows it.
        const request = requestFrame('echo', Buffer.alloc(1000, 0x62));
        if (kind === 1) {
          peer.write(request.subarray(0, 40), false);
        } else {
          // A header declaring a 16 MiB frame, then 64 KiB of a sid that never ends.
          const head = Buffer.alloc(8);
          head.writeInt32BE(16 * MB, 0);
          head.writeInt32BE(Flags.Request, 4);
          peer.write(Buffer.concat([head, Buffer.alloc(64 * 1024, 0x63)]), false);
        }
      }
      const end = Date.now() + scale.closeWaitMs;
      for (const p of peers) await p.waitClosed(Math.max(1, end - Date.now()));
      for (const p of peers) p.destroy();
      return tally(peers, `${scale.partialConnections} connections: ${kinds.join(' / ')}`);
    },
  };
}

/** (6) 1 MiB Request sent one byte per write. */
function oneByteChunks(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'Request sent as 1-byte chunks',
    spec: { kind: 'engine', schema, options: DEFAULTS },
    async run(child) {
      const peer = await handshaken(child);
      const sid = nextSid();
      const frame = requestFrame('echo', Buffer.alloc(scale.oneByteBytes - 64, 0x64), '', Flags.Request, sid);
      const t0 = Date.now();
      let i = 0;
      // Over ws each byte is a WS fragment (`fin: false`) of one binary message.
      for (; i < frame.length && !peer.isClosed; i++) {
        peer.write(frame.subarray(i, i + 1), i === frame.length - 1);
        if ((i & 1023) === 0) {
          while (peer.buffered > 256 * 1024 && !peer.isClosed) await peer.drained(50);
          if ((i & 65535) === 0) await new Promise((r) => setImmediate(r));
        }
      }
      const writeMs = Date.now() - t0;
      const answered = () => peer.frames.some((f) => f.sid === sid && (f.flag === Flags.ReplyEnd || f.flag === Flags.Reply) && f.data.length === scale.oneByteBytes - 64);
      const end = Date.now() + Math.max(scale.closeWaitMs, 20_000);
      while (!answered() && !peer.isClosed && Date.now() < end) await sleep(20);
      const served = answered();
      peer.destroy();
      const outcome = tally([peer], `${i} one-byte writes in ${writeMs} ms; ${served ? 'echoed whole' : 'not answered'}`, served);
      // Closing here is our own destroy(), not the server's, when it answered.
      if (served) outcome.closed = 0;
      return outcome;
    },
  };
}

/** (7) A frame trickled a byte every 100 ms (before and after Connect). */
function trickle(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'frame trickled a byte every 100 ms',
    spec: { kind: 'engine', schema, options: { frameTimeout: SHORT_TIMEOUTS.frameTimeout, handshakeTimeout: SHORT_TIMEOUTS.handshakeTimeout } },
    async run(child) {
      const before = await RawPeer.open(schema, child.port);
      const after = await handshaken(child);
      const connect = connectFrame(child.port, schema);
      const request = requestFrame('echo', Buffer.alloc(4000, 0x65));
      const t0 = Date.now();
      const closedAt: number[] = [];
      void before.closed.then(() => closedAt.push(Date.now() - t0));
      void after.closed.then(() => closedAt.push(Date.now() - t0));
      for (let i = 0; Date.now() - t0 < scale.trickleMaxMs && (!before.isClosed || !after.isClosed); i++) {
        if (i < connect.length - 1) before.write(connect.subarray(i, i + 1), false);
        if (i < request.length - 1) after.write(request.subarray(i, i + 1), false);
        await sleep(100);
      }
      before.destroy();
      after.destroy();
      const outcome = tally([before, after], `Connect trickled before the handshake, Request after; closed after ${closedAt.join(' / ') || 'never'} ms`);
      return outcome;
    },
  };
}

/** Waits until every peer is closed, or none received anything for `quietMs` (the server said all it will), at most `ms`. */
async function settled(peers: RawPeer[], ms: number, quietMs = 1_000): Promise<void> {
  const end = Date.now() + ms;
  let last = -1;
  let since = Date.now();
  while (Date.now() < end && peers.some((p) => !p.isClosed)) {
    const received = peers.reduce((n, p) => n + p.received, 0);
    if (received !== last) {
      last = received;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await sleep(50);
  }
}

/**
 * Sends an `echo` Request and waits for any answer on its sid (ReplyEnd, or an Alarm when the
 * server refuses it) or the close, at most `ms`: the server has then handled every frame sent before.
 */
async function roundTrip(peer: RawPeer, ms: number): Promise<void> {
  const sid = nextSid();
  peer.write(requestFrame('echo', '{}', '', Flags.Request, sid));
  const end = Date.now() + ms;
  while (!peer.isClosed && Date.now() < end && !peer.frames.some((f) => f.sid === sid) && !peer.answered.has(sid)) await sleep(20);
}

/** Writes one frame, then waits while this side holds more than 1 MiB unsent. */
async function writePaced(peer: RawPeer, frame: Buffer): Promise<void> {
  peer.write(frame);
  while (peer.buffered > MB && !peer.isClosed) await peer.drained(50);
}

const FRAGMENTS_DECLARED = 63;

/**
 * (8) Real fragment bytes on many connections: each sends 62 of the 63 1 MiB fragments of
 * two messages (never the last). Reassembly draws from the memory budget as fragments arrive:
 * past the connection's or the address's share, the message is refused with an Alarm and its
 * later fragments are dropped.
 */
function fragmentBytes(kind: ServerKind, schema: Schema, scale: Scale, addresses: string[] = [ATTACKER_ADDRESS]): AttackPlan {
  const at = kind === 'broker' ? '@=echo&' : '';
  return {
    name: `real fragment bytes on many connections${addresses.length > 1 ? ` from ${addresses.length} addresses` : ''}`,
    spec: { kind, schema, options: DEFAULTS },
    // Filling the whole budget with bulk: measured 40-80 MB of dropped socket buffers awaiting GC on top.
    rssSlack: addresses.length > 1 ? 128 * MB : undefined,
    goodMetas: kind === 'broker' ? { '@': 'echo' } : undefined,
    async run(child) {
      const peers: RawPeer[] = [];
      const connections = scale.fragmentConnections * addresses.length;
      for (let c = 0; c < connections; c++) peers.push(await handshaken(child, addresses[c % addresses.length]));
      const data = Buffer.alloc(MB, 0x66);
      let sent = 0;
      for (const peer of peers) {
        for (let m = 0; m < 2 && !peer.isClosed; m++) {
          const sid = nextSid();
          for (let f = 1; f < FRAGMENTS_DECLARED && !peer.isClosed; f++) {
            const meta = f === 1 ? `${at}Data-Length=${FRAGMENTS_DECLARED * MB}&Data-Fragment-Idx=1&Data-Fragment-Total=${FRAGMENTS_DECLARED}`
              : `Data-Fragment-Idx=${f}&Data-Fragment-Total=${FRAGMENTS_DECLARED}`;
            await writePaced(peer, requestFrame('echo', data, meta, Flags.Request, sid));
            sent++;
          }
        }
      }
      for (const peer of peers) await roundTrip(peer, scale.closeWaitMs);
      await settled(peers, scale.closeWaitMs);
      const outcome = tally(peers, `${sent} fragments of 1 MiB on ${peers.length} connections; ${peers.reduce((n, p) => n + p.alarms, 0)} messages refused with an Alarm`);
      for (const p of peers) p.destroy();
      return outcome;
    },
  };
}

/**
 * (9) First fragments that declare 63 MiB and send 1 KiB, one per connection: nothing is
 * reserved for the declared length (the server's virtual size stays put); each costs what
 * arrived plus its bookkeeping, well within the budget, so the connections are held.
 */
function declaredFragments(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'declared-only fragments on many connections',
    spec: { kind: 'engine', schema, options: DEFAULTS },
    maxHeld: scale.declaredConnections,
    async run(child) {
      const peers: RawPeer[] = [];
      const data = Buffer.alloc(1024, 0x67);
      for (let c = 0; c < scale.declaredConnections; c++) {
        const peer = await handshaken(child);
        peers.push(peer);
        peer.write(requestFrame('echo', data, `Data-Length=${FRAGMENTS_DECLARED * MB}&Data-Fragment-Idx=1&Data-Fragment-Total=${FRAGMENTS_DECLARED}`));
      }
      for (const peer of peers) await roundTrip(peer, scale.closeWaitMs);
      await settled(peers, scale.closeWaitMs);
      const outcome = tally(peers, `${peers.length} connections, each a first fragment declaring ${FRAGMENTS_DECLARED} MiB`);
      for (const p of peers) p.destroy();
      return outcome;
    },
    verify: (r) => (r.rss.vmGrowth > 512 * MB ? [`virtual size grew ${(r.rss.vmGrowth / MB).toFixed(0)} MB: the declared lengths were reserved`] : []),
  };
}

/**
 * (10) Partial 17 MiB frames: each connection declares a 17 MiB frame and sends 16 MiB of it.
 * Partial frames draw from the memory budget: the address's share holds 8 of them; the
 * connections after that are closed with 1002 (`PENDING_FRAME_BYTES`).
 */
function bigPartialFrames(schema: Schema, scale: Scale): AttackPlan {
  const held = Math.floor(DEFAULT_MEMORY_BUDGET_PER_ADDRESS / (16 * MB));
  return {
    name: 'partial 17 MiB frames on many connections',
    spec: { kind: 'engine', schema, options: DEFAULTS },
    maxHeld: held,
    async run(child) {
      const peers: RawPeer[] = [];
      const body = Buffer.alloc(MB, 0x68);
      const head = Buffer.alloc(8);
      head.writeInt32BE(17 * MB - 1, 0);
      head.writeInt32BE(Flags.Request, 4);
      for (let c = 0; c < scale.bigPartialConnections; c++) {
        const peer = await RawPeer.open(child.spec.schema, child.port);
        peers.push(peer);
        // Once the address's share is full, even a new connection's Connect may not fit: the
        // attacker is then refused at the handshake (closed), which is the outcome sought.
        if (!(await peer.handshake(child.port))) break;
        if (schema === 'tcp') {
          peer.write(head);
          for (let i = 0; i < 16 && !peer.isClosed; i++) await writePaced(peer, body);
        } else {
          // One WebSocket message whose 17 MiB never all arrive: 16 MiB of WS fragments, no fin.
          peer.write(head, false);
          for (let i = 0; i < 16 && !peer.isClosed; i++) {
            peer.write(body, false);
            while (peer.buffered > MB && !peer.isClosed) await peer.drained(50);
          }
        }
      }
      await settled(peers, scale.closeWaitMs);
      const outcome = tally(peers, `${peers.length} connections, each 16 MiB of a 17 MiB frame`);
      for (const p of peers) p.destroy();
      return outcome;
    },
    verify: (r) => (r.outcome.closed < r.outcome.attackers - held ? [`only ${r.outcome.closed} of ${r.outcome.attackers} closed, ${held} may be held`] : []),
  };
}

/**
 * (11) Nest: a stream of 100 KB values to a client that stops reading. The values queued for
 * it are charged their encoded size: past the connection's share the stream fails with an
 * Alarm, and what it queued is freed.
 */
function nestSlowReader(scale: Scale): AttackPlan {
  return {
    name: 'Nest: stream of 100 KB values, client stops reading',
    spec: { kind: 'nest', schema: 'tcp', options: DEFAULTS },
    async run(child) {
      const peer = await handshaken(child);
      peer.pause();
      const sid = nextSid();
      peer.write(requestFrame('big', '', '', Flags.Subscribe, sid));
      await sleep(scale.nestHoldMs);
      peer.resume();
      const end = Date.now() + scale.closeWaitMs;
      const failed = () => peer.frames.some((f) => f.sid === sid && f.flag === Flags.Alarm);
      while (!failed() && !peer.isClosed && Date.now() < end) await sleep(20);
      const outcome = tally([peer], `Subscribe to 10 000 values of 100 KB, unread for ${scale.nestHoldMs} ms; ${peer.received} frames read after; ${failed() ? 'stream failed with an Alarm' : 'stream NOT failed'}`);
      peer.destroy();
      return outcome;
    },
    verify: (r) => ((r.outcome.alarmed ?? 0) + r.outcome.closed === 0 ? ['the stream was not failed'] : []),
  };
}

/** Every attack: those of issue 8, then the memory-budget rows of issue 19, at the defaults. */
export function attackPlans(scale: Scale): AttackPlan[] {
  return [
    pingFlood('tcp', scale),
    pingFlood('ws', scale),
    fragmentSids('tcp', scale),
    fragmentSids('ws', scale),
    nestHuge(scale),
    openStreams('engine', 'tcp', scale),
    openStreams('engine', 'ws', scale),
    partialFrames('tcp', scale),
    partialFrames('ws', scale),
    oneByteChunks('tcp', scale),
    oneByteChunks('ws', scale),
    trickle('tcp', scale),
    trickle('ws', scale),
    fragmentBytes('engine', 'tcp', scale),
    fragmentBytes('nest', 'ws', scale),
    fragmentBytes('broker', 'tcp', scale),
    // Three addresses together reach the server's whole budget (each stops at its share).
    fragmentBytes('engine', 'tcp', scale, [ATTACKER_ADDRESS, '127.0.0.3', '127.0.0.4']),
    declaredFragments('tcp', scale),
    openStreams('nest', 'tcp', scale),
    openStreams('nest', 'ws', scale),
    bigPartialFrames('tcp', scale),
    bigPartialFrames('ws', scale),
    nestSlowReader(scale),
  ];
}

export type { AttackOutcome, AttackResult };
