import Hapi from '@hapi/hapi';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config';
import type { BridgeContext } from '../context';
import { charityWebhookPlugin } from './charity-webhook';
import { healthPlugin } from './health';
import { nhsMessagesPlugin } from './nhs-messages';
import { policePushPlugin } from './police-push';
import { reconciliationPlugin } from './reconciliation';
import { referralsPlugin } from './referrals';
import { worklistsPlugin } from './worklists';
import { consolePlugin } from './console';
import { adminDashboardPlugin } from './admin-dashboard';
import { authPlugin } from './auth';
import { partnerAuthPlugin } from './partner-auth';
import { openapiPlugin } from './openapi';
import { operationsPlugin } from './operations';
import { deadLettersPlugin } from './dead-letters';
import { strictAuditSink } from '../operations/dead-letter-admin';

/** The bridge's HTTP API: one plugin per surface, each registering its own routes. */
export async function createServer(ctx: BridgeContext, overrides: { port?: number; host?: string } = {}): Promise<Hapi.Server> {
  const server = Hapi.server({
    port: overrides.port ?? ctx.config.http.port,
    host: overrides.host ?? ctx.config.http.host,
    routes: { response: { emptyStatusCode: 204 } },
    ...tlsOptions(ctx),
  });
  // Every request gets a correlation id (the caller's, if it sent one) on the log line and the response.
  server.ext('onRequest', (request, h) => {
    const given = request.headers['x-correlation-id'];
    const correlationId = typeof given === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(given) ? given : randomUUID();
    (request.app as { correlationId?: string }).correlationId = correlationId;
    return h.continue;
  });
  server.ext('onPreResponse', (request, h) => {
    const correlationId = (request.app as { correlationId?: string }).correlationId;
    const response = request.response;
    const status = 'isBoom' in response && response.isBoom ? response.output.statusCode : (response as { statusCode?: number }).statusCode;
    ctx.logger.info({ correlationId, method: request.method, path: request.route.path, status }, 'http request');
    if (correlationId && 'isBoom' in response && response.isBoom) response.output.headers['X-Correlation-Id'] = correlationId;
    else if (correlationId) (response as Hapi.ResponseObject).header('X-Correlation-Id', correlationId);
    return h.continue;
  });
  await server.register({ plugin: authPlugin, options: { config: ctx.config } });
  await server.register({ plugin: partnerAuthPlugin, options: { ctx } });
  await server.register([
    { plugin: healthPlugin, options: { ctx } },
    { plugin: policePushPlugin, options: { ctx } },
    { plugin: referralsPlugin, options: { ctx } },
    { plugin: worklistsPlugin, options: { ctx } },
    { plugin: consolePlugin, options: { ctx } },
    { plugin: nhsMessagesPlugin, options: { ctx } },
    { plugin: charityWebhookPlugin, options: { ctx } },
    { plugin: reconciliationPlugin, options: { ctx } },
    { plugin: adminDashboardPlugin, options: { ctx } },
    { plugin: operationsPlugin, options: { ctx } },
    { plugin: openapiPlugin },
    { plugin: deadLettersPlugin, options: { ctx, audit: strictAuditSink(ctx.audit) } },
  ]);
  return server;
}

/**
 * HTTPS when configured. Client certificates are asked for but not required at the TLS layer:
 * routes that rely on mTLS (the trust's $process-message) check the peer themselves, and the
 * other routes keep their own credentials.
 */
function tlsOptions(ctx: BridgeContext): {
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean };
} {
  const tls = ctx.config.http.tls;
  if (!tls) return {};
  const read = (file: string, variable: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(variable, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  return {
    tls: {
      cert: read(tls.certFile, 'HTTP_TLS_CERT_FILE'),
      key: read(tls.keyFile, 'HTTP_TLS_KEY_FILE'),
      ...(tls.clientCaFile ? { ca: read(tls.clientCaFile, 'HTTP_TLS_CLIENT_CA_FILE'), requestCert: true, rejectUnauthorized: false } : {}),
    },
  };
}
