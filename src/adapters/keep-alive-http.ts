import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { urlToHttpOptions } from 'node:url';

/**
 * One HTTP call over a pool of kept-alive sockets, for the partner clients that call per referral
 * (police write-backs, charity). The profile showed global fetch (undici's WHATWG layer: Request,
 * Headers, AbortSignal, web streams) costing several times node:http per call; this is node:http
 * with an overall deadline and nothing else. No redirects are followed (a redirect would carry a
 * bearer token elsewhere): the caller sees the 3xx status.
 */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** A header's value; repeated headers joined by ", ". */
  header(name: string): string | null;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'PUT';
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Covers connecting, the answer and reading its body: a stalled body is as bad as no answer. */
  timeoutMs: number;
}

/** The deadline passed; `code` is ETIMEDOUT so it reads like any other network failure. */
export class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/** The request could not be made at all (an invalid header value, a bad URL): nothing was sent. */
export class HttpRequestError extends Error {
  constructor(override readonly cause: Error) {
    super(`request could not be made: ${cause.message}`);
    this.name = 'HttpRequestError';
  }
}

/**
 * A socket that emits 'error' once its request has already failed and let go of it (test doubles
 * do) would crash the process: the request's own 'error' is where failures are reported.
 */
const guarded = new WeakSet<Socket>();
function guardSocket(socket: Socket): void {
  if (guarded.has(socket)) return;
  guarded.add(socket);
  socket.on('error', () => undefined);
}

export class KeepAliveHttp {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });

  /** A partner's few URLs, parsed once: URL parsing was a fifth of a call's CPU. */
  private readonly targets = new Map<string, ReturnType<typeof urlToHttpOptions>>();

  private target(url: string): ReturnType<typeof urlToHttpOptions> {
    let target = this.targets.get(url);
    if (!target) {
      if (this.targets.size >= 256) this.targets.clear();
      target = urlToHttpOptions(new URL(url));
      this.targets.set(url, target);
    }
    return target;
  }

  request(url: string, call: HttpCall): Promise<HttpAnswer> {
    const target = this.target(url);
    const secure = target.protocol === 'https:';
    const headers: Record<string, string | number> = { ...call.headers };
    if (call.body !== undefined) headers['Content-Length'] = Buffer.byteLength(call.body);
    return new Promise<HttpAnswer>((resolve, reject) => {
      let req: ClientRequest;
      try {
        req = (secure ? httpsRequest : httpRequest)({ ...target, method: call.method, headers, agent: secure ? this.https : this.http });
      } catch (err) {
        return reject(new HttpRequestError(err as Error));
      }
      req.once('socket', guardSocket);
      const timer = setTimeout(() => req.destroy(new HttpTimeoutError(call.timeoutMs)), call.timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      req.on('error', fail);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.once('aborted', () => fail(Object.assign(new Error('answer cut off'), { code: 'ECONNRESET' })));
        res.once('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          const answer = res.headers;
          resolve({
            status,
            headers: answer,
            body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
            header: (name) => {
              const value = answer[name.toLowerCase()];
              return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
            },
          });
        });
      });
      req.end(call.body);
    });
  }

  /** Closes the idle sockets (shutdown, tests). */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
