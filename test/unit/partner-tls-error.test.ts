import { isNetworkError, PartnerError, tlsErrorCode, tlsFailure } from '../../src/adapters/partner-error';
import { nhsVerdictFor } from '../../src/adapters/nhs/errors';

/** node's own shapes: node:https puts the code on the error, fetch on its `cause`. */
const httpsError = (code: string) =>
  Object.assign(new Error(`${code.toLowerCase()} at https://charity.test/v1/referrals?name=Alex`), { code });
const fetchError = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause });

describe('tlsErrorCode', () => {
  it.each([
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_REVOKED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_WRONG_VERSION_NUMBER',
  ])('%s: on the error, on fetch’s cause, and one cause deeper', (code) => {
    expect(tlsErrorCode(httpsError(code))).toBe(code);
    expect(tlsErrorCode(fetchError(httpsError(code)))).toBe(code);
    expect(tlsErrorCode(fetchError({ cause: { code } }))).toBe(code);
  });

  it.each([['ECONNRESET'], ['ECONNREFUSED'], ['ETIMEDOUT'], ['ERR_TLS_HANDSHAKE_TIMEOUT'], ['HPE_INVALID_CONSTANT'], ['ERR_SSL_<script>']])(
    '%s is not a TLS verdict',
    (code) => {
      expect(tlsErrorCode(httpsError(code))).toBeUndefined();
      expect(tlsErrorCode(fetchError(httpsError(code)))).toBeUndefined();
    },
  );

  it('nothing usable: undefined', () => {
    for (const err of [undefined, null, 'CERT_HAS_EXPIRED', 42, {}, { code: 7 }, fetchError(undefined)])
      expect(tlsErrorCode(err)).toBeUndefined();
  });

  it('a handshake timeout is a network failure, retried like one', () => {
    expect(isNetworkError(httpsError('ERR_TLS_HANDSHAKE_TIMEOUT'))).toBe(true);
    expect(isNetworkError(httpsError('CERT_HAS_EXPIRED'))).toBe(false);
  });
});

describe('tlsFailure', () => {
  it('transient with an alert, the code named in the message, no URL or request content', () => {
    const err = tlsFailure('CHARITY', 'charity', fetchError(httpsError('CERT_HAS_EXPIRED')));
    expect(err).toBeInstanceOf(PartnerError);
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'transient', options: { code: 'tls', alert: true } });
    expect(err!.message).toContain('CERT_HAS_EXPIRED');
    expect(err!.message).not.toMatch(/https?:|Alex|charity\.test/);
  });

  it('undefined for anything that is not a TLS failure', () => {
    expect(tlsFailure('POLICE', 'police RMS', httpsError('ECONNRESET'))).toBeUndefined();
  });
});

describe('nhsVerdictFor: TLS failures', () => {
  it.each([
    ['node:https (the transaction POST)', httpsError('DEPTH_ZERO_SELF_SIGNED_CERT'), 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['fetch (fhir-kit-client reads)', fetchError(httpsError('ERR_TLS_CERT_ALTNAME_INVALID')), 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ])('%s → transient, alert, code named', (_via, err, code) => {
    const verdict = nhsVerdictFor(err);
    expect(verdict).toMatchObject({
      verdict: 'failed',
      error: { partner: 'NHS', kind: 'transient', options: { code: 'tls', alert: true } },
    });
    expect(verdict.verdict === 'failed' && verdict.error.message).toContain(code);
  });
});
