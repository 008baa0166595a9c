import { describe, expect, it } from '@jest/globals';
import { socketDError } from '../../lib/protocol/errors.js';
import type { Metas } from '../../lib/session/types.js';
import {
  decodeCallError,
  encodeNestError,
  SocketDDeserializer,
  SocketDRecord,
  SocketDRecordBuilder,
  SocketDSerializer,
} from '../../lib/nest/index.js';
import { receivedMessage } from './nest-test.helpers.js';

const received = receivedMessage;

describe('SocketDSerializer / SocketDDeserializer', () => {
  const ser = new SocketDSerializer();
  const de = new SocketDDeserializer();
  const roundTrip = (value: unknown) => {
    const entity = ser.serialize(value);
    return de.deserialize(received(entity.data === undefined ? '' : (entity.data as Buffer | string), entity.metas as Metas));
  };

  it('round-trips JSON values, including strings that look like JSON', () => {
    for (const value of [{ a: [1, 'x'] }, 'plain', '{"not":"parsed"}', 0, null, true]) {
      expect(roundTrip(value)).toEqual(value);
    }
    expect(roundTrip(undefined)).toBeUndefined();
  });

  it('sends bytes raw and returns them as a Buffer', () => {
    const entity = ser.serialize(new Uint8Array([0, 1, 255]));
    expect(entity.metas).toEqual({ 'Data-Type': 'application/octet-stream' });
    const out = roundTrip(Buffer.from([0, 1, 255]));
    expect(Buffer.isBuffer(out)).toBe(true);
    expect([...(out as Buffer)]).toEqual([0, 1, 255]);
  });

  it('reads unmarked data from upstream peers as JSON when it parses, else as text', () => {
    expect(de.deserialize(received('{"id":1}'))).toEqual({ id: 1 });
    expect(de.deserialize(received('hello world'))).toBe('hello world');
    expect(de.deserialize(received('{broken'))).toBe('{broken');
    expect(de.deserialize(received(''))).toBeUndefined();
    expect(de.deserialize(received('123', { 'Data-Type': 'text/plain' }))).toBe('123');
  });

  it('throws on data marked JSON that is not JSON', () => {
    expect(() => de.deserialize(received('{broken', { 'Data-Type': 'application/json' }))).toThrow();
  });
});

describe('Nest error Alarms', () => {
  const alarmOf = (err: unknown) => {
    const { text, metas } = encodeNestError(err);
    return { text, error: socketDError('ALARM', text, { alarm: received(text, metas), alarmCode: 0 }) };
  };

  it.each([
    ['an RpcException object', { code: 42, message: 'nope' }, 'nope'],
    ['Nest\'s generic shape', { status: 'error', message: 'Internal server error' }, 'Internal server error'],
    ['a plain string', 'There is no matching message handler defined in the remote service.', 'There is no matching message handler defined in the remote service.'],
  ])('round-trips %s with readable text', (_name, value, text) => {
    const alarm = alarmOf(value);
    expect(alarm.text).toBe(text);
    expect(decodeCallError(alarm.error)).toEqual(value);
  });

  it('carries a long error value in the data', () => {
    const value = { status: 'error', message: 'x'.repeat(5000) };
    const { metas, text } = encodeNestError(value);
    expect(metas['X-Nest-Err']).toBe('data');
    expect(JSON.parse(text)).toEqual(value);
    expect(decodeCallError(socketDError('ALARM', text, { alarm: received(text, metas) }))).toEqual(value);
  });

  it('keeps an upstream Alarm and other engine errors as SocketDError', () => {
    const upstream = socketDError('ALARM', 'upstream says no', { alarm: received('upstream says no'), alarmCode: 0 });
    expect(decodeCallError(upstream)).toBe(upstream);
    const timeout = socketDError('TIMEOUT', 'slow');
    expect(decodeCallError(timeout)).toBe(timeout);
  });
});

describe('SocketDRecordBuilder', () => {
  it('builds an immutable record with metas, timeout and mode', () => {
    const builder = new SocketDRecordBuilder({ a: 1 }).setMetas({ t: '1' }).setMeta('u', '2').setTimeout(500).asRequest();
    const record = builder.build();
    expect(record).toBeInstanceOf(SocketDRecord);
    expect(record.data).toEqual({ a: 1 });
    expect(record.metas).toEqual({ t: '1', u: '2' });
    expect(record.options).toEqual({ metas: { t: '1', u: '2' }, timeout: 500, mode: 'request' });
    builder.setMeta('v', '3');
    expect(record.metas).toEqual({ t: '1', u: '2' });
    expect(Object.isFrozen(record.options)).toBe(true);
  });
});
