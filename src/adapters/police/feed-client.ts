import { KeepAliveHttp } from '../keep-alive-http';
import { callPolice, classifyPoliceStatus } from './http';

/** Pulls one page of the RMS feed: `GET {base}/flags?cursor=&limit=` (police-feed.md §1). */
export class PoliceFeedClient {
  constructor(
    private readonly opts: { baseUrl: string; token: string; timeoutMs: number; pageLimit: number },
    private readonly http = new KeepAliveHttp(),
  ) {}

  async fetchPage(cursor: string | undefined, ctx: { correlationId: string }): Promise<Buffer> {
    const url = new URL(`${this.opts.baseUrl}/flags`);
    if (cursor) url.searchParams.set('cursor', cursor);
    url.searchParams.set('limit', String(this.opts.pageLimit));
    const headers: Record<string, string> = { Accept: 'application/xml', 'X-Correlation-Id': ctx.correlationId };
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const res = await callPolice(this.http, url.toString(), { method: 'GET', headers, timeoutMs: this.opts.timeoutMs });
    if (res.status !== 200) throw classifyPoliceStatus(res.status, res.header('retry-after'), 'feed poll');
    return res.body;
  }

  close(): void {
    this.http.close();
  }
}
