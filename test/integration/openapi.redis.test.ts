import type { Server } from '@hapi/hapi';
import { routeDoc } from '../../src/api/openapi';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/** GET /openapi.json: built from the route table, every route described, its credential named. */
describe('OpenAPI description', () => {
  let ctx: BridgeContext;
  let server: Server;
  let doc: {
    openapi: string;
    paths: Record<
      string,
      Record<string, { summary: string; security: Record<string, string[]>[]; parameters: { name: string; in: string }[] }>
    >;
  };

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
    const res = await server.inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    doc = JSON.parse(res.payload);
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('every route the server serves is described (a new route without words fails here)', () => {
    const undocumented = server
      .table()
      .filter((r) => !routeDoc(r.method, r.path))
      .map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(undocumented).toEqual([]);
    // bull-board's own API is not the bridge's: only its entry page is in the description.
    for (const r of server.table().filter((t) => !t.path.startsWith('/admin/queues/'))) {
      const path = r.path.replace(/\{(\w+)\*?\d*\}/g, '{$1}');
      expect(doc.paths[path]?.[r.method]?.summary).toBeTruthy();
    }
    expect(doc.openapi).toBe('3.0.3');
  });

  test('security says who may call: scopes for operators, the partner credential, or nothing for public routes', () => {
    expect(doc.paths['/v1/referrals/{id}']!.get!.security).toEqual([{ operatorJwt: ['referrals:read', 'admin'] }]);
    expect(doc.paths['/v1/webhooks/charity']!.post!.security).toEqual([{ charitySignature: [] }]);
    expect(doc.paths['/fhir/$process-message']!.post!.security).toEqual([{ nhsInbound: [] }]);
    expect(doc.paths['/v1/police/flags']!.post!.security).toEqual([{ policePushToken: [] }]);
    expect(doc.paths['/health/ready']!.get!.security).toEqual([]);
  });

  test('the JSON operator routes publish their response schema', () => {
    const ok = (
      doc.paths['/v1/referrals']!.get as unknown as {
        responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
      }
    ).responses['200']!;
    expect(ok.content!['application/json']!.schema).toMatchObject({
      type: 'object',
      required: ['items'],
      properties: { items: { type: 'array' } },
    });
  });

  test('query parameters carry their allowed values, bounds and formats', () => {
    const params = Object.fromEntries(
      (doc.paths['/v1/referrals']!.get!.parameters as unknown as { name: string; schema: Record<string, unknown> }[]).map((p) => [
        p.name,
        p.schema,
      ]),
    );
    expect(params.partner).toEqual({ type: 'string', enum: ['NHS', 'CHARITY'] });
    expect(params.status).toMatchObject({ type: 'string', enum: expect.arrayContaining(['HELD', 'SENT', 'FAILED']) });
    expect(params.limit).toEqual({ type: 'integer', minimum: 1, maximum: 500, default: 50 });
    expect(params.updatedSince).toEqual({ type: 'string', format: 'date-time' });
    expect(params.crimeReference).toMatchObject({ type: 'string', maxLength: 64 });
  });

  test('parameters come from the routes: path ids and validated query keys', () => {
    expect(doc.paths['/v1/referrals/{id}']!.get!.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path' }),
      expect.objectContaining({ name: 'include', in: 'query' }),
    ]);
    expect(doc.paths['/v1/audit']!.get!.parameters.map((p) => p.name).sort()).toEqual(['from', 'limit', 'referralId', 'to']);
  });
});
