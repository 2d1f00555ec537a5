import { outcomeIdempotencyKey, outcomeToXml, type ReferralOutcome } from '../../mappings/referral-to-write-back';
import { KeepAliveHttp } from '../keep-alive-http';
import { callPolice, classifyPoliceStatus } from './http';

/** Posts one ReferralOutcome to `POST {base}/referral-outcomes` (police-feed.md §3). */
export class PoliceOutcomeClient {
  private readonly url: string;

  constructor(
    private readonly opts: { baseUrl: string; token: string; timeoutMs: number },
    private readonly http = new KeepAliveHttp(),
  ) {
    this.url = `${opts.baseUrl}/referral-outcomes`;
  }

  async post(outcome: ReferralOutcome, ctx: { correlationId: string }): Promise<void> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/xml; charset=utf-8',
      'Idempotency-Key': outcomeIdempotencyKey(outcome),
      'X-Correlation-Id': ctx.correlationId,
    };
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const res = await callPolice(this.http, this.url, {
      method: 'POST',
      headers,
      body: outcomeToXml(outcome),
      timeoutMs: this.opts.timeoutMs,
    });
    if (res.status === 200 || res.status === 201 || res.status === 204) return;
    throw classifyPoliceStatus(res.status, res.header('retry-after'), 'outcome write-back');
  }

  close(): void {
    this.http.close();
  }
}
