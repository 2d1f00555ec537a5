import { subjectProblem, tokenTimesProblem } from '../../src/api/operator-claims';

describe('operator token claims', () => {
  const now = 1_800_000_000;

  it.each([
    ['a normal token', { iat: now, exp: now + 3600 }, undefined],
    ['exactly 12 hours', { iat: now, exp: now + 12 * 3600 }, undefined],
    ['iat and nbf within the 60 s skew', { iat: now + 60, nbf: now + 60, exp: now + 600 }, undefined],
    ['no exp', { iat: now }, 'exp is required'],
    ['a string exp', { iat: now, exp: String(now + 60) }, 'exp is required'],
    ['no iat', { exp: now + 60 }, 'iat is required'],
    ['iat in the future', { iat: now + 61, exp: now + 600 }, 'iat is in the future'],
    ['nbf in the future', { iat: now, nbf: now + 61, exp: now + 600 }, 'nbf is in the future'],
    ['expired beyond the skew', { iat: now - 600, exp: now - 60 }, 'token expired'],
    ['longer than 12 hours', { iat: now, exp: now + 12 * 3600 + 1 }, 'token lives longer than 12 hours'],
  ])('%s', (_what, payload, problem) => {
    expect(tokenTimesProblem(payload, now)).toBe(problem);
  });

  it.each([
    ['auth0|5f7c8ec7c33c6c004bbafe82', undefined],
    ['google-oauth2|103547991597142817347', undefined],
    ['a'.repeat(255), undefined],
    ['a'.repeat(256), 'sub is not printable ASCII of at most 255 characters'],
    ['tab\there', 'sub is not printable ASCII of at most 255 characters'],
    ['ops@example.org', 'sub looks like personal data; use an opaque subject'],
    ['', 'sub is missing'],
    [42, 'sub is missing'],
  ])('subject %j', (sub, problem) => {
    expect(subjectProblem(sub)).toBe(problem);
  });
});
