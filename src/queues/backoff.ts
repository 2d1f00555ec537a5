import { PartnerError } from '../adapters/partner-error';

const MAX_DELAY_MS = 10 * 60 * 1000;

/**
 * Exponential backoff with jitter (half fixed, half random, so retries from many jobs spread
 * out), never shorter than the partner's Retry-After.
 */
export function partnerBackoff(baseMs: number, random: () => number = Math.random) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    const ceiling = Math.min(MAX_DELAY_MS, baseMs * 2 ** Math.max(0, attemptsMade - 1));
    const jittered = Math.round(ceiling / 2 + random() * (ceiling / 2));
    const retryAfter = err instanceof PartnerError ? (err.retryAfterMs ?? 0) : 0;
    return Math.max(jittered, retryAfter);
  };
}
