import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRequestError, HttpTimeoutError, KeepAliveHttp } from '../../src/adapters/keep-alive-http';

/** The partner clients' HTTP layer against a real server on loopback. */
describe('KeepAliveHttp', () => {
  let server: Server;
  let base: string;
  let connections = 0;
  const http = new KeepAliveHttp();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/stall-body') {
          // Headers at once, then a body that never finishes.
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('part');
          return;
        }
        if (req.url === '/redirect') {
          res.writeHead(302, { location: 'http://elsewhere.invalid/' }).end();
          return;
        }
        res.writeHead(201, {
          'retry-after': '7',
          'x-seen-length': String(req.headers['content-length'] ?? ''),
          'x-seen-url': req.url ?? '',
        });
        res.end(`${req.method} ${Buffer.concat(chunks).toString('utf8')}`);
      });
    });
    server.on('connection', () => connections++);
    server.keepAliveTimeout = 10_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    http.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('answers with status, headers and body, and sends the body with its length', async () => {
    const answer = await http.request(`${base}/x`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'héllo',
      timeoutMs: 2000,
    });
    expect(answer.status).toBe(201);
    expect(answer.header('Retry-After')).toBe('7');
    expect(answer.header('x-seen-length')).toBe(String(Buffer.byteLength('héllo')));
    expect(answer.header('absent')).toBeNull();
    expect(answer.body.toString('utf8')).toBe('POST héllo');
  });

  test('each URL reaches its own path and query, however often each is called', async () => {
    const urls = ['/a', '/a?cursor=1', '/b/c?x=%20y', '/a?cursor=2'];
    for (let round = 0; round < 2; round++)
      for (const url of urls) {
        const answer = await http.request(`${base}${url}`, { method: 'GET', headers: {}, timeoutMs: 2000 });
        expect(answer.header('x-seen-url')).toBe(url);
      }
    expect(() => http.request('not a url', { method: 'GET', headers: {}, timeoutMs: 2000 })).toThrow('Invalid URL');
  });

  test('calls one after another reuse one kept-alive connection', async () => {
    const before = connections;
    for (let i = 0; i < 5; i++) await http.request(`${base}/x`, { method: 'GET', headers: {}, timeoutMs: 2000 });
    expect(connections - before).toBeLessThanOrEqual(1);
  });

  test('the deadline covers the body: a stalled body is a timeout', async () => {
    const started = Date.now();
    const err = await http.request(`${base}/stall-body`, { method: 'GET', headers: {}, timeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpTimeoutError);
    expect((err as HttpTimeoutError).code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('a redirect is not followed: the caller sees the 3xx', async () => {
    const answer = await http.request(`${base}/redirect`, { method: 'GET', headers: { Authorization: 'Bearer secret' }, timeoutMs: 2000 });
    expect(answer.status).toBe(302);
  });

  test('a request that cannot be made (invalid header value) fails as such, with nothing sent', async () => {
    const err = await http
      .request(`${base}/x`, { method: 'POST', headers: { 'Idempotency-Key': 'bad\nkey' }, body: 'x', timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpRequestError);
  });

  test('nothing listening: the socket error comes through with its code', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const err = await http.request(`http://127.0.0.1:${port}/`, { method: 'GET', headers: {}, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ECONNREFUSED');
  });
});
