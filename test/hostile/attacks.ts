/**
 * The attacks of issue 8, each a plan for `runAttack()`: the hostile suite runs them at
 * `TEST_SCALE`, `npm run stress` at `STRESS_SCALE`. Each names the server options the child
 * gets (small limits keep the test short) and returns what became of its attackers.
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
  type AttackOutcome,
  type AttackPlan,
  type Schema,
  type ServerChild,
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
}

export const TEST_SCALE: Scale = {
  floodMs: 2_000,
  fragmentSids: 20_000,
  nestSubscribes: 600,
  nestHoldMs: 2_500,
  openStreams: 100_000,
  partialConnections: 150,
  oneByteBytes: MB,
  trickleMaxMs: 6_000,
  closeWaitMs: 15_000, // an upper bound: each wait ends as soon as the server closed the attacker
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
};

/** Limits every child gets unless an attack says otherwise (names of lib/session options; unknown ones are ignored by older builds). */
const BASE_OPTIONS = {
  highWaterMark: 256 * 1024,
  maxWriteBufferSize: 4 * MB,
  maxPendingFrameBytes: 4 * MB,
  maxMessageSize: 8 * MB,
  maxPendingFragmentBytes: 8 * MB,
  maxInboundStreams: 10_000,
  frameTimeout: 2_000,
  handshakeTimeout: 3_000,
};

/** Opens a reading peer and handshakes; throws if the server did not accept it. */
async function handshaken(child: ServerChild): Promise<RawPeer> {
  const peer = await RawPeer.open(child.spec.schema, child.port);
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
    spec: { kind: 'engine', schema, options: { ...BASE_OPTIONS, idleTimeout: 3_000 } },
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
    spec: { kind: 'engine', schema, options: { ...BASE_OPTIONS } },
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
    spec: { kind: 'nest', schema: 'tcp', options: { ...BASE_OPTIONS, idleTimeout: 3_000 } },
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
 * (4) Many open Subscribe streams on one session, never answered. Past maxInboundStreams each
 * new one is refused with an Alarm (the streams stay open because our handler does not answer:
 * not the peer's fault) and the session stays; memory stays bounded.
 */
function openStreams(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'open Subscribe streams on one session',
    spec: { kind: 'engine', schema, options: { ...BASE_OPTIONS } },
    async run(child) {
      const peer = await handshaken(child);
      const sent = await sendMany(peer, scale.openStreams, () => requestFrame('never', '', '', Flags.Subscribe), 1000);
      const refused = sent - BASE_OPTIONS.maxInboundStreams;
      const end = Date.now() + Math.max(scale.closeWaitMs, 20_000);
      while (peer.received < refused && !peer.isClosed && Date.now() < end) await sleep(20);
      const served = !peer.isClosed && peer.received >= refused;
      peer.destroy();
      const outcome = tally([peer], `${sent} Subscribes sent, maxInboundStreams ${BASE_OPTIONS.maxInboundStreams}: ${peer.received} Alarms back${served ? ', session kept' : ''}`, served);
      // Closing here is our own destroy(), not the server's, when it refused them one by one.
      if (served) outcome.closed = 0;
      return outcome;
    },
  };
}

/** (5) Many connections each holding a partial frame, before and after Connect. */
function partialFrames(schema: Schema, scale: Scale): AttackPlan {
  return {
    name: 'connections holding partial frames',
    spec: { kind: 'engine', schema, options: { ...BASE_OPTIONS, maxConnectionsPerAddress: Math.max(50, Math.floor(scale.partialConnections * 0.8)) } },
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
    spec: { kind: 'engine', schema, options: { ...BASE_OPTIONS } },
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
    spec: { kind: 'engine', schema, options: { ...BASE_OPTIONS, frameTimeout: 2_000, handshakeTimeout: 3_000 } },
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

/** Every attack, in the order of issue 8. */
export function attackPlans(scale: Scale): AttackPlan[] {
  return [
    pingFlood('tcp', scale),
    pingFlood('ws', scale),
    fragmentSids('tcp', scale),
    fragmentSids('ws', scale),
    nestHuge(scale),
    openStreams('tcp', scale),
    openStreams('ws', scale),
    partialFrames('tcp', scale),
    partialFrames('ws', scale),
    oneByteChunks('tcp', scale),
    oneByteChunks('ws', scale),
    trickle('tcp', scale),
    trickle('ws', scale),
  ];
}

export type { AttackOutcome };
