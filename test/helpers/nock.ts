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
