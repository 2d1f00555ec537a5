import type { Server } from '@hapi/hapi';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig, waitFor } from '../helpers/bridge';

/**
 * A request body is read only once its credential is accepted, on every route that takes one,
 * and the bodies a route holds at once are bounded. Over real loopback HTTP: each request sends
 * its headers and only the start of the body it declares, then waits for the answer. A server
 * that read the body before checking the credential would still be waiting for the rest; and
 * hapi's payload reader ('peek' events) would have seen the bytes.
 */
type Answer = { status: number; headers: http.IncomingHttpHeaders; body: string } | 'no answer';

interface Sent {
  answer: Promise<Answer>;
  abort: () => void;
}

function startPost(
  port: number,
  path: string,
  headers: Record<string, string>,
  declaredBytes: number,
  sentBytes: number,
  method = 'POST',
): Sent {
  const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': String(declaredBytes) } });
  const answer = new Promise<Answer>((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), 3000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      });
    });
    req.on('error', () => undefined); // the server may close the connection on an unread body
    req.on('close', () => {
      clearTimeout(timer);
      resolve('no answer'); // a no-op once answered
    });
  });
  req.write(Buffer.alloc(sentBytes, 0x20));
  return { answer, abort: () => req.destroy() };
}

function contentTypeOf(allow: unknown): string {
  const first = Array.isArray(allow) ? allow[0] : allow;
  return typeof first === 'string' ? first : 'application/json';
}

describe('request bodies', () => {
  let ctx: BridgeContext;
  let server: Server;
  let port: number;
  /** Payload bytes hapi read, per request path. */
  const bytesRead = new Map<string, number>();
  let readers = 0;

  beforeAll(async () => {
    ctx = createContext(
      testConfig({
        CHARITY_WEBHOOK_SECRETS: 'whsec-0123456789abcdef-bodies',
        NHS_INBOUND_TOKEN: 'trust-token',
        NHS_BARS_TARGET_SERVICE_ID: 'svc',
        POLICE_MAX_DOCUMENT_BYTES: String(1024 * 1024),
        HTTP_BODY_BYTES_IN_FLIGHT: String(2 * 1024 * 1024),
      }),
      capturedLogger().logger,
    );
    server = await createServer(ctx, { port: 0, host: '127.0.0.1' });
    server.ext('onRequest', (request, h) => {
      let first = true;
      request.events.on('peek', (chunk) => {
        if (first) readers += 1;
        first = false;
        bytesRead.set(request.path, (bytesRead.get(request.path) ?? 0) + chunk.length);
      });
      return h.continue;
    });
    await server.start();
    port = (server.listener.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await server.stop({ timeout: 100 });
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('every route with a body refuses an unauthenticated request with 401 before reading any of it', async () => {
    // The console's sign-in is the one body read without a credential: the token is its body (16 KiB at most).
    const routes = server.table().filter((r) => r.method !== 'get' && r.method !== '*' && r.path !== '/console/session');
    expect(routes.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/v1/police/flags', '/v1/webhooks/charity', '/fhir/$process-message']),
    );
    const stale = `t=${Math.floor(Date.now() / 1000) - 3600},v1=${'0'.repeat(64)}`;
    for (const r of routes) {
      const maxBytes = (r.settings.payload as { maxBytes?: number } | undefined)?.maxBytes ?? 1024 * 1024;
      const declared = maxBytes;
      const sent = Math.min(16 * 1024, Math.floor(declared / 2));
      const headers = { 'content-type': contentTypeOf((r.settings.payload as { allow?: unknown } | undefined)?.allow) };
      const variants: Record<string, string>[] = [headers, { ...headers, authorization: 'Bearer wrong-token' }];
      if (r.path === '/v1/webhooks/charity')
        variants.push({ ...headers, 'x-charity-signature': stale }, { ...headers, 'x-charity-signature': 'v1=nonsense' });
      // Many at once (bounded, loopback): none may be held waiting for its body.
      const url = r.path.replace(/\{[^}]+\}/g, 'x');
      const posts = variants.flatMap((h) =>
        Array.from({ length: 10 }, () => startPost(port, url, h, declared, sent, r.method.toUpperCase())),
      );
      const answers = await Promise.all(posts.map((p) => p.answer));
      for (const a of answers) expect([r.path, a === 'no answer' ? a : a.status]).toEqual([r.path, 401]);
      expect([r.path, bytesRead.get(url) ?? 0]).toEqual([r.path, 0]);
    }
  });

  test('the NHS route still answers its refusal as an OperationOutcome', async () => {
    const answer = await startPost(port, '/fhir/$process-message', { 'content-type': 'application/fhir+json' }, 512 * 1024, 1024).answer;
    expect(answer).not.toBe('no answer');
    const { status, headers, body } = answer as Exclude<Answer, 'no answer'>;
    expect([status, headers['www-authenticate']]).toEqual([401, 'Bearer']);
    expect(JSON.parse(body)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ details: { coding: [{ code: 'REC_UNAUTHORIZED' }] } }],
    });
  });

  test('the NHS route refuses a message without its integrity headers (400 REC_BAD_REQUEST) before reading its body', async () => {
    const before = bytesRead.get('/fhir/$process-message') ?? 0;
    const answer = await startPost(
      port,
      '/fhir/$process-message',
      { 'content-type': 'application/fhir+json', authorization: 'Bearer trust-token' },
      512 * 1024,
      1024,
    ).answer;
    expect(answer).not.toBe('no answer');
    const { status, body } = answer as Exclude<Answer, 'no answer'>;
    expect(status).toBe(400);
    expect(JSON.parse(body)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'required', details: { coding: [{ code: 'REC_BAD_REQUEST' }] } }],
    });
    expect(bytesRead.get('/fhir/$process-message') ?? 0).toBe(before);
  });

  test('an authenticated route holds at most its budget of body bytes at once: 503 with Retry-After beyond it, room again when a request ends', async () => {
    const push = { 'content-type': 'application/xml', authorization: 'Bearer push-token' };
    const MiB = 1024 * 1024;
    readers = 0;
    // Two slow pushes of 1 MiB each fill the 2 MiB budget.
    const slow = [startPost(port, '/v1/police/flags', push, MiB, 1024), startPost(port, '/v1/police/flags', push, MiB, 1024)];
    await waitFor(async () => readers === 2, 'both slow pushes being read', 3000);
    const before = bytesRead.get('/v1/police/flags') ?? 0;

    const refused = await startPost(port, '/v1/police/flags', push, MiB, 1024).answer;
    expect(refused).not.toBe('no answer');
    expect([(refused as Exclude<Answer, 'no answer'>).status, (refused as Exclude<Answer, 'no answer'>).headers['retry-after']]).toEqual([
      503,
      '5',
    ]);
    // Counted in bytes: even a small body does not fit while the budget is full.
    const small = await startPost(port, '/v1/police/flags', push, 4, 3).answer;
    expect(small !== 'no answer' && small.status).toBe(503);
    expect(bytesRead.get('/v1/police/flags') ?? 0).toBe(before);

    // One slow push gives up: its bytes are given back.
    slow[0]!.abort();
    await waitFor(
      async () => {
        const a = await startPost(port, '/v1/police/flags', push, 4, 4).answer;
        return a !== 'no answer' && a.status !== 503 && a;
      },
      'room in the budget again',
      3000,
    );
    slow[1]!.abort();
    // Unauthenticated requests never take any of the budget.
    expect(
      (await startPost(port, '/v1/police/flags', { 'content-type': 'application/xml' }, MiB, 1024).answer) as Exclude<Answer, 'no answer'>,
    ).toMatchObject({ status: 401 });
  });
});
