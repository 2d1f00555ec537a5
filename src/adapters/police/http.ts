import { PartnerError, isNetworkError, parseRetryAfter } from '../partner-error';

/** fetch with an overall timeout; network failures and timeouts become transient PartnerErrors. */
export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    if (isNetworkError(err) || (err as Error).name === 'TypeError') {
      const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new PartnerError('POLICE', 'transient', `police RMS unreachable (${code})`);
    }
    throw err;
  }
}

/** police-feed.md §3: 4xx other than 408/429 is permanent; 408, 429, 5xx are retried. */
export function classifyPoliceStatus(status: number, retryAfter: string | null, what: string): PartnerError {
  const options = { status, retryAfterMs: parseRetryAfter(retryAfter) };
  if (status === 401 || status === 403) return new PartnerError('POLICE', 'auth', `${what}: RMS refused credentials (${status})`, options);
  if (status === 408 || status === 429 || status >= 500) return new PartnerError('POLICE', 'transient', `${what}: RMS answered ${status}`, options);
  return new PartnerError('POLICE', 'permanent', `${what}: RMS answered ${status}`, options);
}
