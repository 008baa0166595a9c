import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  ConnectionLifecycle, TRANSITIONS, type LifecycleEvent, type LifecycleState,
} from '../../lib/session/connection-lifecycle.js';
import type { ClientStatus } from '../../lib/session/index.js';

const STATES: LifecycleState[] = ['idle', 'connecting', 'handshaking', 'open', 'backoff', 'closed'];
const EVENTS: LifecycleEvent[] = ['connect', 'transportUp', 'connack', 'failed', 'closeStarting', 'dropped', 'retryDue', 'close'];

// The whole table, written out: [from, event, to when retrying, to when not] (undefined: ignored).
const EXPECTED: Record<LifecycleState, Partial<Record<LifecycleEvent, [LifecycleState, LifecycleState]>>> = {
  idle: { connect: ['connecting', 'connecting'], close: ['closed', 'closed'] },
  connecting: { transportUp: ['handshaking', 'handshaking'], failed: ['backoff', 'idle'], close: ['closed', 'closed'] },
  handshaking: { connack: ['open', 'open'], failed: ['backoff', 'idle'], close: ['closed', 'closed'] },
  open: { closeStarting: ['connecting', 'connecting'], dropped: ['backoff', 'idle'], close: ['closed', 'closed'] },
  backoff: { retryDue: ['connecting', 'connecting'], close: ['closed', 'closed'] },
  closed: {},
};

// The shortest event path from idle to each state.
const PATH: Record<LifecycleState, [LifecycleEvent, boolean][]> = {
  idle: [],
  connecting: [['connect', false]],
  handshaking: [['connect', false], ['transportUp', false]],
  open: [['connect', false], ['transportUp', false], ['connack', false]],
  backoff: [['connect', false], ['transportUp', false], ['failed', true]],
  closed: [['close', false]],
};

interface Probe {
  lifecycle: ConnectionLifecycle;
  attempts: number;
  pings: number;
  statuses: ClientStatus[];
}

function probe(heartbeatInterval = 0, reconnectDelay = 100): Probe {
  const p = { attempts: 0, pings: 0, statuses: [] as ClientStatus[] } as Probe;
  p.lifecycle = new ConnectionLifecycle({ reconnectDelay, maxReconnectDelay: 1_000, heartbeatInterval }, {
    startAttempt: () => { p.attempts++; },
    ping: () => { p.pings++; },
    status: (s) => { p.statuses.push(s); },
  });
  return p;
}

function reach(p: Probe, state: LifecycleState): void {
  for (const [event, retry] of PATH[state]) expect(p.lifecycle.dispatch(event, retry)).toBe(true);
  expect(p.lifecycle.state).toBe(state);
}

describe('ConnectionLifecycle: the transition table', () => {
  beforeEach(() => { jest.useFakeTimers(); });
  afterEach(() => { jest.clearAllTimers(); jest.useRealTimers(); });

  it('TRANSITIONS is exactly the expected table', () => {
    for (const from of STATES) {
      for (const event of EVENTS) {
        const cell = TRANSITIONS[from][event];
        const expected = EXPECTED[from][event];
        if (expected === undefined) expect(cell).toBeUndefined();
        else expect(typeof cell === 'string' ? [cell, cell] : cell).toEqual(expected);
      }
    }
  });

  for (const from of STATES) {
    for (const event of EVENTS) {
      for (const retry of [true, false]) {
        const expected = EXPECTED[from][event];
        const to = expected === undefined ? from : expected[retry ? 0 : 1];
        it(`${from} × ${event}${retry ? ' (retry)' : ''} -> ${expected === undefined ? 'ignored' : to}`, () => {
          const p = probe(50);
          reach(p, from);
          const attemptsBefore = p.attempts;
          expect(p.lifecycle.dispatch(event, retry)).toBe(expected !== undefined);
          expect(p.lifecycle.state).toBe(to);
          // Effects of the state reached: an attempt on entering connecting, a heartbeat only
          // while open, a retry time only in backoff.
          expect(p.attempts).toBe(attemptsBefore + (expected !== undefined && to === 'connecting' ? 1 : 0));
          expect(p.lifecycle.heartbeatRunning).toBe(to === 'open');
          expect(p.lifecycle.nextRetryAt !== undefined).toBe(to === 'backoff');
          if (to === 'closed') expect(p.lifecycle.status).toBe('closed');
          if (to === 'open') expect(p.lifecycle.status).toBe('connected');
        });
      }
    }
  }

  it('Connack and Close in one read: the open session drops at once; status ends reconnecting, the heartbeat is off', () => {
    const p = probe(100);
    reach(p, 'handshaking');
    p.lifecycle.dispatch('connack');
    p.lifecycle.dispatch('dropped', true);
    expect(p.lifecycle.state).toBe('backoff');
    expect(p.lifecycle.status).toBe('reconnecting');
    expect(p.lifecycle.heartbeatRunning).toBe(false);
    jest.advanceTimersByTime(1_000);
    expect(p.pings).toBe(0);
  });

  it('close during connect: the late transport and Connack events are ignored, nothing is retried', () => {
    const p = probe();
    reach(p, 'connecting');
    p.lifecycle.dispatch('close');
    expect(p.lifecycle.dispatch('transportUp')).toBe(false);
    expect(p.lifecycle.dispatch('connack')).toBe(false);
    expect(p.lifecycle.dispatch('failed', true)).toBe(false);
    jest.advanceTimersByTime(60_000);
    expect(p.attempts).toBe(1);
    expect(p.statuses).toEqual(['connecting', 'closed']);
  });

  it('a reconnect scheduled when close() comes never runs', () => {
    const p = probe();
    reach(p, 'open');
    p.lifecycle.dispatch('dropped', true);
    expect(p.lifecycle.state).toBe('backoff');
    p.lifecycle.dispatch('close');
    jest.advanceTimersByTime(60_000);
    expect(p.attempts).toBe(1);
    expect(p.lifecycle.state).toBe('closed');
    expect(p.statuses).toEqual(['connecting', 'connected', 'disconnected', 'reconnecting', 'closed']);
  });

  it('backoff doubles with ±20 % jitter up to maxReconnectDelay and resets once open', () => {
    const p = probe(0, 100);
    reach(p, 'open');
    const delays: number[] = [];
    p.lifecycle.dispatch('dropped', true);
    for (let i = 0; i < 6; i++) {
      delays.push(p.lifecycle.nextRetryAt! - Date.now());
      jest.advanceTimersByTime(p.lifecycle.nextRetryAt! - Date.now());
      expect(p.lifecycle.state).toBe('connecting');
      p.lifecycle.dispatch('failed', true);
    }
    const bases = [100, 200, 400, 800, 1_000, 1_000];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(bases[i]! * 0.8 - 1);
      expect(d).toBeLessThanOrEqual(bases[i]! * 1.2 + 1);
    });
    jest.advanceTimersByTime(p.lifecycle.nextRetryAt! - Date.now());
    p.lifecycle.dispatch('transportUp');
    p.lifecycle.dispatch('connack');
    p.lifecycle.dispatch('dropped', true);
    expect(p.lifecycle.nextRetryAt! - Date.now()).toBeLessThanOrEqual(120 + 1);
  });

  it('one heartbeat timer whatever the reconnects: 100 ms interval, three reconnects, 10 Pings per second', () => {
    const p = probe(100, 10);
    reach(p, 'open');
    for (let i = 0; i < 3; i++) {
      p.lifecycle.dispatch('dropped', true);
      jest.advanceTimersByTime(p.lifecycle.nextRetryAt! - Date.now());
      p.lifecycle.dispatch('transportUp');
      p.lifecycle.dispatch('connack');
    }
    p.pings = 0;
    jest.advanceTimersByTime(1_000);
    expect(p.pings).toBe(10);
  });

  it('Close 1000 on the open session starts a fresh attempt at once (no backoff) and stops the heartbeat', () => {
    const p = probe(100);
    reach(p, 'open');
    p.lifecycle.dispatch('closeStarting');
    expect(p.lifecycle.state).toBe('connecting');
    expect(p.attempts).toBe(2);
    expect(p.lifecycle.heartbeatRunning).toBe(false);
    expect(p.lifecycle.status).toBe('reconnecting');
  });
});
