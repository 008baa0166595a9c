/**
 * The case with Nest on both ends: a SocketDClient with default options calling a
 * streaming handler of a Nest player (a child process, over dist/: `npm run build` first)
 * through our broker; the player is SIGKILLed mid-stream. The caller's Observable errors with
 * the broker's Alarm (code 502, naming the player), never completes with part of the data.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { SocketDClient } from '../../lib/nest/index.js';
import { SCHEMAS, startBroker, until } from './broker-helpers.js';
import { killAll, spawnFaultProcess } from './fault-support.js';

afterAll(killAll);

describe.each(SCHEMAS)('a Nest player SIGKILLed mid-stream behind the broker over %s', (schema) => {
  it('fails the Nest caller\'s stream with Alarm code 502 (not complete with part of the data)', async () => {
    const { broker, url } = await startBroker(schema);
    const player = await spawnFaultProcess({ role: 'nest-player', url, name: 'svc' });
    const client = new SocketDClient({ url, target: 'svc' });
    try {
      await until(() => broker.players.get('svc')?.length === 1, 10_000, 'the player');
      const values: unknown[] = [];
      const ends: { kind: string; err?: unknown }[] = [];
      client.send('ticks', 60).subscribe({
        next: (v) => values.push(v),
        error: (err: unknown) => ends.push({ kind: 'error', err }),
        complete: () => ends.push({ kind: 'complete' }),
      });
      await until(() => values.length >= 5, 10_000, 'five values');
      const killedAt = Date.now();
      await player.kill();
      await until(() => ends.length > 0, 10_000, 'the end of the call');
      const endedAfter = Date.now() - killedAt;
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(ends).toHaveLength(1);
      expect(ends[0]!.kind).toBe('error');
      const err = ends[0]!.err as { code?: string; message?: string; details?: Record<string, unknown> };
      expect(err.code).toBe('SOCKETD_ERR_ALARM');
      expect(err.details?.['alarmCode']).toBe(502);
      expect(err.message).toMatch(/^Broker lost the '@svc' session in the middle of its answer/);
      expect(values.length).toBeLessThan(60);
      expect(values).toEqual([...Array(values.length).keys()]);
      expect(endedAfter).toBeLessThan(5_000);
    } finally {
      await client.close();
      await broker.close();
    }
  });
});
