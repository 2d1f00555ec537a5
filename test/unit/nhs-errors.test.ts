import { classifyNhsResponse, nhsVerdictFor } from '../../src/adapters/nhs/errors';
import { summariseOutcome } from '../../src/mappings/operation-outcome';
import { PartnerError } from '../../src/adapters/partner-error';

const NOW = Date.parse('2026-11-22T10:00:00Z');
const oo = (code: string, text: string) => ({
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'invalid',
      details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code }], text },
    },
  ],
});

function errorOf(status: number, headers?: Record<string, string>, body?: unknown): PartnerError {
  const verdict = classifyNhsResponse(status, headers, body, NOW);
  if (verdict.verdict !== 'failed') throw new Error(`expected a failure for ${status}`);
  return verdict.error;
}

describe('classifyNhsResponse', () => {
  it('409 is a duplicate, not a failure', () => {
    expect(classifyNhsResponse(409, undefined, oo('REC_CONFLICT', 'exists'), NOW)).toEqual({ verdict: 'duplicate', status: 409 });
  });

  it.each([
    [400, 'permanent'],
    [404, 'permanent'],
    [422, 'permanent'],
    [405, 'permanent'],
    [410, 'permanent'],
    [412, 'permanent'],
    [401, 'auth'],
    [403, 'auth'],
    [408, 'transient'],
    [429, 'transient'],
    [500, 'transient'],
    [502, 'transient'],
    [503, 'transient'],
    [504, 'transient'],
    [501, 'transient'],
    [599, 'transient'],
    [200, 'transient'],
  ])('%i → %s', (status, kind) => {
    expect(errorOf(status)).toMatchObject({ partner: 'NHS', kind, status });
  });

  it('reads Retry-After as seconds or an HTTP date, from Headers or a plain record', () => {
    expect(errorOf(429, { 'Retry-After': '30' }).retryAfterMs).toBe(30_000);
    expect(errorOf(503, { 'retry-after': 'Sun, 22 Nov 2026 10:01:00 GMT' }).retryAfterMs).toBe(60_000);
    const verdict = classifyNhsResponse(429, new Headers({ 'Retry-After': '5' }), undefined, NOW);
    expect(verdict.verdict === 'failed' && verdict.error.retryAfterMs).toBe(5000);
    expect(errorOf(429, { 'Retry-After': 'soon' }).retryAfterMs).toBeUndefined();
  });

  it('keeps the BaRS code in clear and the issue text apart, never the HTTP body when it is not an OperationOutcome', () => {
    const err = errorOf(422, undefined, oo('REC_UNPROCESSABLE_ENTITY', 'Sam Taylor 9912003888 subject missing'));
    expect(err.options).toEqual({ status: 422, code: 'REC_UNPROCESSABLE_ENTITY', detail: 'REC_UNPROCESSABLE_ENTITY (invalid)' });
    expect(err.partnerText).toBe('Sam Taylor 9912003888 subject missing');
    expect(errorOf(400, undefined, '<html>Sam Taylor</html>').options.detail).toBeUndefined();
  });

  it('never shows the partner text when the error is serialised or logged', () => {
    const err = errorOf(422, undefined, oo('REC_UNPROCESSABLE_ENTITY', 'Sam Taylor 9912003888'));
    expect(JSON.stringify(err)).not.toContain('Taylor');
    expect(JSON.stringify({ ...err })).not.toContain('Taylor');
    expect(Object.keys(err)).not.toContain('partnerText');
  });
});

describe('summariseOutcome', () => {
  it("keeps codes and expressions in clear, the issues' words apart, each capped at 500 characters", () => {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'required',
          diagnostics: 'Task.for missing for Sam Taylor',
          details: { text: 'NHS 9912003888' },
          expression: ['Task.for'],
        },
        {
          severity: 'error',
          code: 'invalid',
          details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code: 'REC_BAD_REQUEST' }] },
          location: ['Bundle.entry[1]'],
        },
      ],
    };
    expect(summariseOutcome(outcome)).toEqual({
      detail: '(required) at Task.for; REC_BAD_REQUEST (invalid) at Bundle.entry[1]',
      code: 'REC_BAD_REQUEST',
      text: 'Task.for missing for Sam Taylor | NHS 9912003888',
    });
    expect(summariseOutcome(oo('X', 'y'.repeat(900))).text).toHaveLength(500);
    expect(summariseOutcome({ resourceType: 'Patient' })).toEqual({});
  });

  it('takes the values out of an expression: string literals (not code system URLs) and long numbers', () => {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          expression: [
            "Patient.identifier.where(system='https://fhir.nhs.uk/Id/nhs-number' and value='9912003888')",
            'Patient.name.where(family="Taylor")',
            'Patient.birthDate = 19860130',
          ],
        },
      ],
    };
    expect(summariseOutcome(outcome).detail).toBe(
      "(invalid) at Patient.identifier.where(system='https://fhir.nhs.uk/Id/nhs-number' and value='…'), Patient.name.where(family='…'), Patient.birthDate = …",
    );
  });

  it("drops a code that is not shaped as a code (it is the partner's words)", () => {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid Sam Taylor',
          details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code: 'REC_BAD_REQUEST Sam Taylor' }] },
        },
      ],
    };
    expect(summariseOutcome(outcome)).toEqual({});
  });
});

describe('nhsVerdictFor', () => {
  it('reads status, headers and body from a fhir-kit-client error, and does not copy its message (it holds the URL)', () => {
    const err = Object.assign(
      new Error('HTTP 429: GET https://trust/fhir/R4/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9912003888'),
      {
        response: { status: 429, data: oo('SEND_TOO_MANY_REQUESTS', 'slow') },
        config: { headers: new Headers({ 'retry-after': '3' }) },
      },
    );
    const verdict = nhsVerdictFor(err, NOW);
    expect(verdict.verdict === 'failed' && verdict.error).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 3000 });
    expect(JSON.stringify(verdict.verdict === 'failed' && [verdict.error.message, verdict.error.options])).not.toContain('9912003888');
  });

  it.each([
    ['timeout', Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }), 'timeout'],
    ['reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'ECONNRESET'],
    ['fetch failed', Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'ECONNREFUSED'],
    ['unknown', new RangeError('boom'), 'RangeError'],
  ])('%s is transient', (_label, err, detail) => {
    const verdict = nhsVerdictFor(err, NOW);
    expect(verdict.verdict === 'failed' && verdict.error).toMatchObject({ partner: 'NHS', kind: 'transient', options: { detail } });
  });

  it('passes a PartnerError through', () => {
    const err = new PartnerError('NHS', 'auth', 'x');
    expect(nhsVerdictFor(err)).toEqual({ verdict: 'failed', error: err });
  });
});
