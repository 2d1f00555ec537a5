import { writeBackIdempotencyKey, writeBackToXml, type WriteBack } from '../../mappings/referral-to-write-back';
import { KeepAliveHttp } from '../keep-alive-http';
import { callPolice, classifyPoliceStatus } from './http';

/** Posts one WriteBack to `POST {base}/referral-outcomes` (police-feed.md §3). */
export class PoliceWriteBackClient {
  private readonly url: string;

  constructor(
    private readonly opts: { baseUrl: string; token: string; timeoutMs: number },
    private readonly http = new KeepAliveHttp(),
  ) {
    this.url = `${opts.baseUrl}/referral-outcomes`;
  }

  async post(outcome: WriteBack, ctx: { correlationId: string }): Promise<void> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/xml; charset=utf-8',
      'Idempotency-Key': writeBackIdempotencyKey(outcome),
      'X-Correlation-Id': ctx.correlationId,
    };
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const res = await callPolice(this.http, this.url, {
      method: 'POST',
      headers,
      body: writeBackToXml(outcome),
      timeoutMs: this.opts.timeoutMs,
    });
    if (res.status === 200 || res.status === 201 || res.status === 204) return;
    throw classifyPoliceStatus(res.status, res.header('retry-after'), 'outcome write-back');
  }

  close(): void {
    this.http.close();
  }
}
