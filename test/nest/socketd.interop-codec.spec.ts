/** Issue 9, unit level: text payloads, lossless unmarked data, Alarm codes, per-call timeouts, call kinds. */
import { describe, expect, it } from '@jest/globals';
import { isSocketDError, socketDError } from '../../lib/protocol/errors.js';
import type { Metas, Session } from '../../lib/session/types.js';
import {
  alarmCodeOf,
  decodeCallError,
  encodeNestError,
  SocketDDeserializer,
  SocketDRecordBuilder,
  SocketDSerializer,
} from '../../lib/nest/index.js';
import { receivedMessage } from './nest-test.helpers.js';
import { callKind, resolveCallMode } from '../../lib/nest/socketd.client-call.js';

const received = receivedMessage;

describe('strings on the wire', () => {
  const ser = new SocketDSerializer();
  const de = new SocketDDeserializer();

  it('serializes a string as its raw text marked text/plain', () => {
    expect(ser.serialize('hi')).toEqual({ data: 'hi', metas: { 'Data-Type': 'text/plain' } });
    expect(ser.serialize('')).toEqual({ data: '', metas: { 'Data-Type': 'text/plain' } });
    expect(ser.serialize('{"a":1}')).toEqual({ data: '{"a":1}', metas: { 'Data-Type': 'text/plain' } });
  });

  it('deserializes text/plain as the string, also an empty one and one that looks like JSON', () => {
    for (const text of ['hi', '', '42', '{"a":1}', 'null', 'héllo ✓']) {
      expect(de.deserialize(received(text, { 'Data-Type': 'text/plain' }))).toBe(text);
    }
  });
});

describe('unmarked data (upstream peers)', () => {
  const de = new SocketDDeserializer();

  it('is a Buffer, byte for byte, when it is not valid UTF-8', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x01]);
    const value = de.deserialize(received(bytes));
    expect(Buffer.isBuffer(value)).toBe(true);
    expect((value as Buffer).equals(bytes)).toBe(true);
    // A truncated multi-byte sequence too.
    expect(Buffer.isBuffer(de.deserialize(received(Buffer.from([0x68, 0xc3]))))).toBe(true);
  });

  it('keeps the lenient reading of valid UTF-8: JSON when it parses, else the text', () => {
    expect(de.deserialize(received('{"id":1}'))).toEqual({ id: 1 });
    expect(de.deserialize(received('42'))).toBe(42);
    expect(de.deserialize(received('hello'))).toBe('hello');
    expect(de.deserialize(received('héllo ✓'))).toBe('héllo ✓');
    expect(de.deserialize(received(Buffer.from([0x00, 0x01])))).toBe('\u0000\u0001');
    expect(de.deserialize(received(''))).toBeUndefined();
  });
});

describe('Alarm codes', () => {
  it('puts an integer code of the error value in the code meta', () => {
    expect(encodeNestError({ code: 4001, message: 'no such user' }).metas['code']).toBe('4001');
    expect(encodeNestError({ code: '4002', message: 'x' }).metas['code']).toBe('4002');
    expect(encodeNestError({ code: -7, message: 'x' }).metas['code']).toBe('-7');
  });

  it('leaves the code meta out when there is no integer code', () => {
    for (const err of [{ code: 'E_X', message: 'x' }, { code: 1.5 }, { code: 2 ** 40 }, { status: 'error', message: 'x' }, 'text']) {
      expect(encodeNestError(err).metas['code']).toBeUndefined();
    }
  });

  it('keeps the code meta when the value goes in the data (too long for a meta)', () => {
    const { metas } = encodeNestError({ code: 9, message: 'x'.repeat(5000) });
    expect(metas).toEqual({ code: '9', 'X-Nest-Err': 'data' });
  });

  it('round-trips the Nest value as before, and alarmCodeOf reads either shape', () => {
    const value = { code: 4001, message: 'no such user' };
    const { text, metas } = encodeNestError(value);
    const fromNest = socketDError('ALARM', text, { alarm: received(text, metas), alarmCode: 4001 });
    expect(decodeCallError(fromNest)).toEqual(value);
    expect(alarmCodeOf(decodeCallError(fromNest))).toBe(4001);
    const upstream = socketDError('ALARM', 'no such user', { alarm: received('no such user', { code: '4001' }), alarmCode: 4001 });
    expect(decodeCallError(upstream)).toBe(upstream);
    expect(alarmCodeOf(upstream)).toBe(4001);
    expect(alarmCodeOf(socketDError('ALARM', 'x', { alarmCode: 0 }))).toBeUndefined();
    expect(alarmCodeOf({ status: 'error', message: 'x' })).toBeUndefined();
    expect(alarmCodeOf(socketDError('TIMEOUT', 'x'))).toBeUndefined();
  });
});

describe('SocketDRecordBuilder timeouts', () => {
  it('sets requestTimeout and streamTimeout per call', () => {
    const record = new SocketDRecordBuilder({}).setRequestTimeout(500).setStreamTimeout(60_000).build();
    expect(record.options).toEqual({ requestTimeout: 500, streamTimeout: 60_000 });
  });

  it('refuses timeouts a timer cannot take', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 31]) {
      expect(() => new SocketDRecordBuilder({}).setRequestTimeout(bad)).toThrow(/requestTimeout must be an integer/);
      expect(() => new SocketDRecordBuilder({}).setStreamTimeout(bad)).toThrow(/streamTimeout must be an integer/);
      expect(() => new SocketDRecordBuilder({}).setTimeout(bad)).toThrow(/timeout must be an integer/);
    }
    expect(() => new SocketDRecordBuilder({}).setMode('stream' as 'request')).toThrow(/mode must be/);
  });
});

describe('call kinds', () => {
  const session = (params: Metas) => ({ handshake: { params } }) as unknown as Session;

  it('auto: Subscribe only toward a server announcing X-Nest-Stream', () => {
    expect(callKind(session({ 'X-Nest-Stream': '1' }), undefined, 'auto')).toBe('subscribe');
    expect(callKind(session({ 'X-Nest-Stream': '2' }), undefined, 'auto')).toBe('subscribe');
    expect(callKind(session({ 'X-Nest-Stream': '0' }), undefined, 'auto')).toBe('request');
    expect(callKind(session({ 'Socket.D': '1.0' }), undefined, 'auto')).toBe('request');
  });

  it('the client mode forces a kind, and the record mode wins over both', () => {
    expect(callKind(session({}), undefined, 'subscribe')).toBe('subscribe');
    expect(callKind(session({ 'X-Nest-Stream': '1' }), undefined, 'request')).toBe('request');
    expect(callKind(session({ 'X-Nest-Stream': '1' }), 'request', 'subscribe')).toBe('request');
    expect(callKind(session({}), 'subscribe', 'auto')).toBe('subscribe');
  });

  it('checks the callMode option', () => {
    expect(resolveCallMode(undefined)).toBe('auto');
    expect(resolveCallMode('request')).toBe('request');
    let err: unknown;
    try {
      resolveCallMode('stream');
    } catch (e) {
      err = e;
    }
    expect(isSocketDError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
