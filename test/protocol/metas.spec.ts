import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { appendMetas, parseMetas, removeMeta, serializeMetas } from '../../lib/protocol/metas.js';
import { expectSocketDError } from './helpers.js';

describe('parseMetas', () => {
  it('follows the verified Java/JS rules (spec 4.1)', () => {
    expect({ ...parseMetas('a=1&b=&=c&d&e=x=y&a=2') }).toEqual({ a: '2', b: '', e: 'x=y' });
  });

  it.each([
    ['', {}],
    ['&', {}],
    ['&&a=1&&', { a: '1' }],
    ['=', {}],
    ['==', {}],
    ['a', {}],
    ['a==', { a: '=' }],
    ['k2=two words&lang=中文', { k2: 'two words', lang: '中文' }],
    ['x&y&z&w=1', { w: '1' }],
    ['Socket.D=1.0&token=x1', { 'Socket.D': '1.0', token: 'x1' }],
    ['a=%41+b', { a: '%41+b' }],
  ])('%j', (input, expected) => {
    expect({ ...parseMetas(input) }).toEqual(expected);
  });

  it('returns a null-prototype object, so __proto__ is a plain key', () => {
    const metas = parseMetas('__proto__=x&constructor=y&toString=z');
    expect(Object.getPrototypeOf(metas)).toBeNull();
    expect(Object.keys(metas)).toEqual(['__proto__', 'constructor', 'toString']);
    expect(metas['__proto__']).toBe('x');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    expect(parseMetas('')['toString']).toBeUndefined();
  });

  it('is linear on many pieces without =', () => {
    const input = `${'k&'.repeat(200_000)}a=1`;
    const start = process.hrtime.bigint();
    expect({ ...parseMetas(input) }).toEqual({ a: '1' });
    // Quadratic would be ~4e10 char comparisons; linear takes a few ms.
    expect(Number(process.hrtime.bigint() - start) / 1e6).toBeLessThan(2000);
  });
});

describe('serializeMetas', () => {
  it('joins k=v with & in insertion order, with no trailing &', () => {
    expect(serializeMetas({ b: '2', a: '1', 'Data-Length': '5', e: '' })).toBe('b=2&a=1&Data-Length=5&e=');
    expect(serializeMetas({})).toBe('');
  });

  it('keeps = in values', () => {
    expect(serializeMetas({ e: 'x=y' })).toBe('e=x=y');
  });

  it.each([
    ['an empty key', { '': 'v' }, /meta key "" must be non-empty/],
    ['a key with &', { 'a&b': 'v' }, /meta key "a&b"/],
    ['a key with =', { 'a=b': 'v' }, /meta key "a=b"/],
    ['a value with &', { a: 'x&y' }, /meta "a" must be a string without '&'/],
    ['a non-string value', { a: 1 as unknown as string }, /meta "a" must be a string/],
  ])('refuses %s with INVALID_ARGUMENT', (_name, metas, message) => {
    expectSocketDError(() => serializeMetas(metas), 'INVALID_ARGUMENT', message);
  });
});

describe('appendMetas', () => {
  it('appends without touching the original string', () => {
    expect(appendMetas('z=1&&a=2', { code: '3001' })).toBe('z=1&&a=2&code=3001');
    expect(appendMetas('', { code: '1001' })).toBe('code=1001');
    expect(appendMetas('a=1', {})).toBe('a=1');
    expect(appendMetas('', {})).toBe('');
  });

  it('overrides a present key for readers (last wins)', () => {
    expect(parseMetas(appendMetas('a=1&b=2', { a: '3' }))['a']).toBe('3');
  });

  it('validates the extra metas', () => {
    expectSocketDError(() => appendMetas('a=1', { 'x=': '1' }), 'INVALID_ARGUMENT');
  });
});

describe('removeMeta', () => {
  it('removes every piece of the key and keeps the rest verbatim', () => {
    expect(removeMeta('Data-Fragment-Idx=1&a=1&Data-Length=2500&Data-Fragment-Total=3', 'Data-Fragment-Idx'))
      .toBe('a=1&Data-Length=2500&Data-Fragment-Total=3');
    expect(removeMeta('a=1&Data-Fragment-Idx=1', 'Data-Fragment-Idx')).toBe('a=1');
    expect(removeMeta('k=1&x=k=2&k=3', 'k')).toBe('x=k=2');
    expect(removeMeta('kk=1&k', 'k')).toBe('kk=1&k');
    const same = 'a=1&b=2';
    expect(removeMeta(same, 'c')).toBe(same);
  });
});

describe('properties', () => {
  const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((k) => !/[&=]/.test(k));
  const value = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((v) => !v.includes('&'));

  it('parse(serialize(metas)) equals metas', () => {
    fc.assert(fc.property(fc.dictionary(key, value, { maxKeys: 10 }), (metas) => {
      expect({ ...parseMetas(serializeMetas(metas)) }).toEqual({ ...metas });
    }), { numRuns: 300 });
  });

  it('serialize(parse(s)) parses back to the same metas for any string', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '=', '&', 'é') , maxLength: 30 }), (s) => {
      const once = parseMetas(s);
      expect({ ...parseMetas(serializeMetas(once)) }).toEqual({ ...once });
    }), { numRuns: 500 });
  });
});
