import fc from 'fast-check';
import type { CrimeRecord } from '../../src/domain/crime-record';
import { canonicalJson, recordDigest } from '../../src/domain/record-digest';

/** The form digests were first made with: a digest already stored must keep comparing equal. */
function firstCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(firstCanonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${firstCanonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

describe('recordDigest', () => {
  const a = { crimeReference: 'CC-1', recordVersion: 2, persons: [{ ref: 'P1', role: 'VICTIM' }], summary: 'x' } as unknown as CrimeRecord;
  const reordered = {
    summary: 'x',
    persons: [{ role: 'VICTIM', ref: 'P1' }],
    recordVersion: 2,
    crimeReference: 'CC-1',
  } as unknown as CrimeRecord;

  it('is the same for the same content, whatever the key order', () => {
    expect(canonicalJson(a)).toBe(canonicalJson(reordered));
    expect(recordDigest(a)).toBe(recordDigest(reordered));
    expect(recordDigest(a)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('differs for any change of content, array order included, and never holds the content', () => {
    expect(recordDigest({ ...a, summary: 'y' })).not.toBe(recordDigest(a));
    expect(recordDigest({ ...a, persons: [...a.persons, { ref: 'P2' }] } as unknown as CrimeRecord)).not.toBe(recordDigest(a));
    expect(canonicalJson(['b', 'a'])).not.toBe(canonicalJson(['a', 'b']));
    expect(recordDigest(a)).not.toContain('CC-1');
  });

  it('writes exactly what the first form wrote, for any JSON-like value', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue(),
        fc.constant(undefined),
        fc.array(tie('node')),
        fc.dictionary(fc.string({ unit: 'grapheme' }), tie('node')),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => canonicalJson(v) === firstCanonicalJson(v)),
      { numRuns: 2000 },
    );
  });
});
