import { canonicalJson, recordDigest } from '../../src/domain/record-digest';
import type { CrimeRecord } from '../../src/domain/crime-record';

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
});
