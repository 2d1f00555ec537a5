import { outcomeIdempotencyKey, outcomeToXml, type ReferralOutcome } from '../../mappings/referral-to-outcome';
import { classifyPoliceStatus, fetchWithTimeout } from './http';

/** Posts one ReferralOutcome to `POST {base}/referral-outcomes` (police-feed.md §3). */
export class PoliceOutcomeClient {
  constructor(private readonly opts: { baseUrl: string; token: string; timeoutMs: number }) {}

  async post(outcome: ReferralOutcome, ctx: { correlationId: string }): Promise<void> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/xml; charset=utf-8',
      'Idempotency-Key': outcomeIdempotencyKey(outcome),
      'X-Correlation-Id': ctx.correlationId,
    };
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const res = await fetchWithTimeout(`${this.opts.baseUrl}/referral-outcomes`, { method: 'POST', headers, body: outcomeToXml(outcome) }, this.opts.timeoutMs);
    await res.body?.cancel();
    if (res.status === 200 || res.status === 201 || res.status === 204) return;
    throw classifyPoliceStatus(res.status, res.headers.get('retry-after'), 'outcome write-back');
  }
}
