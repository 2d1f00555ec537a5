import { KeepAliveHttp, type HttpAnswer, type HttpCall } from '../keep-alive-http';
import { PartnerError, isNetworkError, parseRetryAfter, tlsFailure } from '../partner-error';

/** One call to the RMS; network failures and timeouts become transient PartnerErrors. */
export async function callPolice(http: KeepAliveHttp, url: string, call: HttpCall): Promise<HttpAnswer> {
  try {
    return await http.request(url, call);
  } catch (err) {
    const tls = tlsFailure('POLICE', 'police RMS', err);
    if (tls) throw tls;
    if (isNetworkError(err)) {
      const code = (err as { code?: string }).code ?? (err as Error).name;
      throw new PartnerError('POLICE', 'transient', `police RMS unreachable (${code})`);
    }
    throw new PartnerError('POLICE', 'transient', 'police RMS call failed');
  }
}

/** police-feed.md §3: 4xx other than 408/429 is permanent; 408, 429, 5xx are retried. */
export function classifyPoliceStatus(status: number, retryAfter: string | null, what: string): PartnerError {
  const options = { status, retryAfterMs: parseRetryAfter(retryAfter) };
  if (status === 401 || status === 403) return new PartnerError('POLICE', 'auth', `${what}: RMS refused credentials (${status})`, options);
  if (status === 408 || status === 429 || status >= 500)
    return new PartnerError('POLICE', 'transient', `${what}: RMS answered ${status}`, options);
  return new PartnerError('POLICE', 'permanent', `${what}: RMS answered ${status}`, options);
}
