import { describe, expect, it } from '@jest/globals';
import { newSid } from '../../lib/protocol/sid.js';

describe('newSid', () => {
  it('returns 32 lowercase hex chars', () => {
    for (let i = 0; i < 3000; i++) expect(newSid()).toMatch(/^[0-9a-f]{32}$/);
  });

  it('does not repeat across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(newSid());
    expect(seen.size).toBe(5000);
  });

  it('uses every hex digit in every position over many ids (not a counter)', () => {
    const perPosition = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) [...newSid()].forEach((c, p) => perPosition[p].add(c));
    for (const digits of perPosition) expect(digits.size).toBe(16);
  });
});
