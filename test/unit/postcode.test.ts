import { postcodeDistrict } from '../../src/domain/postcode';

describe('postcodeDistrict', () => {
  it.each([
    ['WA1 1AA', 'WA1'],
    ['M1 1AE', 'M1'],
    ['B33 8TH', 'B33'],
    ['CR2 6XH', 'CR2'],
    ['DN55 1PT', 'DN55'],
    ['W1A 0AX', 'W1A'],
    ['EC1A 1BB', 'EC1A'],
    ['WA11 1AA', 'WA11'],
  ])('%s → %s (every outward-code format)', (postcode, district) => {
    expect(postcodeDistrict(postcode)).toBe(district);
  });

  it.each([
    ['lower case', 'wa1 1aa', 'WA1'],
    ['no space', 'WA11AA', 'WA1'],
    ['no space, two-digit district', 'WA111AA', 'WA11'],
    ['extra and surrounding whitespace', '  sw1a   2aa ', 'SW1A'],
    ['tab between the halves', 'CH1\t2AB', 'CH1'],
  ])('normalises %s', (_label, postcode, district) => {
    expect(postcodeDistrict(postcode)).toBe(district);
  });

  it.each([
    ['undefined', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['outward code only', 'WA1'],
    ['not a postcode', 'NOT A POSTCODE'],
    ['digits only', '12345'],
    ['inward code too long', 'WA1 1AAA'],
    ['inward code without its digit', 'WA1 AAA'],
    ['outward code too long', 'ABC1 1AA'],
    ['outward code starting with a digit', '1A 1AA'],
    ['punctuation', 'WA1-1AA'],
  ])('is undefined for %s', (_label, postcode) => {
    expect(postcodeDistrict(postcode)).toBeUndefined();
  });
});
