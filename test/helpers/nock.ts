import nock from 'nock';
import { PartnerError } from '../../src/adapters/partner-error';

/**
 * nock for one test file: no real network, and every interceptor a test set up must have been
 * used — an unmet expectation fails the test that left it.
 */
export function useStrictNock(): void {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.abortPendingRequests();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });
}

/** The PartnerError a call rejects with (fails the test if it resolves or throws anything else). */
export async function partnerFailure(promise: Promise<unknown>): Promise<PartnerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PartnerError);
  return err as PartnerError;
}

/** An AccessTokenSource that hands out `first`, then `{first}-2` once that is invalidated. */
export class FakeTokens {
  issued = 0;
  invalidated: string[] = [];
  private current: string;
  constructor(first = 'test-token') {
    this.current = first;
  }
  async accessToken(): Promise<string> {
    this.issued++;
    return this.current;
  }
  invalidate(token: string): void {
    this.invalidated.push(token);
    if (token === this.current) this.current = `${token}-2`;
  }
}

/**
 * A socket failure for `replyWithError`: node:http clients only see an Error instance (nock
 * 14 drops a plain object on the floor, and the call then ends in its timeout instead).
 */
export function socketError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * nock patches node:http for the whole jest worker, not just this file: restore it when the file
 * is done, or the next file's HTTP runs through this file's stale interceptors (and a reset
 * emitted there surfaces, unhandled, in somebody else's test).
 */
export function restoreNockAfterAll(): void {
  afterAll(() => {
    nock.cleanAll();
    nock.enableNetConnect();
    nock.restore();
  });
}

/** The police RMS storing one write-back (201), its Idempotency-Key recorded in `keys`. */
export function rmsStoresOne(base: string, keys: string[]): nock.Scope {
  return nock(base)
    .post('/referral-outcomes')
    .reply(function () {
      keys.push(String(this.req.headers['idempotency-key']));
      return [201];
    });
}
