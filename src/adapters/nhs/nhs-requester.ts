import type { Client as FhirKitClient, RequestOptions } from 'fhir-kit-client';
import { v4 as uuidv4 } from 'uuid';
import { KeepAliveHttp, type HttpAnswer } from '../keep-alive-http';
import { PartnerError } from '../partner-error';
import { nhsVerdictFor } from './errors';
import type { AccessTokenSource } from './token-client';

/**
 * One HTTP call to the trust, shared by both delivery modes: correlation headers, timeout,
 * the OAuth bearer token (refreshed once when the trust refuses it), and every failure as a
 * PartnerError('NHS'). A 409 leaves as a transient PartnerError with status 409; the caller
 * decides whether that means "already delivered".
 *
 * Reads, searches and updates go through fhir-kit-client. The one call made per referral (the
 * transaction or BaRS message POST) goes through `post`, over kept-alive node:http: fhir-kit-client
 * always calls the global fetch, whose WHATWG layer (Request, Headers, web streams) was about a
 * tenth of the bridge's CPU in the benchmark's profile. Both answer and fail alike.
 */
export interface NhsRequesterOptions {
  baseUrl: string;
  timeoutMs: number;
  auth?: AccessTokenSource;
}

export interface RequestContext {
  correlationId: string;
}

export type CallOptions = RequestOptions & { headers: Record<string, string> };

type FhirKitModule = typeof import('fhir-kit-client');

export class NhsRequester {
  private client?: Promise<FhirKitClient>;
  private readonly http = new KeepAliveHttp();

  constructor(private readonly opts: NhsRequesterOptions) {}

  async call<T>(
    ctx: RequestContext,
    call: (client: FhirKitClient, options: CallOptions) => Promise<T>,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const client = await this.fhirKit();
    return this.authorised(ctx, extraHeaders, (headers) => call(client, { headers, signal: AbortSignal.timeout(this.opts.timeoutMs) }));
  }

  /**
   * POSTs a FHIR resource to `{base}/{path}` and resolves to the parsed answer (see the class
   * comment). With `requireEcho`, a 2xx that does not mirror the request's X-Request-Id and
   * X-Correlation-Id is a transient failure (BaRS Core 1.2.2 sender responsibilities: such an
   * answer came from something in between, not the receiver, so the message is not delivered).
   */
  post(
    ctx: RequestContext,
    path: string,
    body: unknown,
    extraHeaders: Record<string, string> = {},
    { requireEcho = false } = {},
  ): Promise<unknown> {
    const url = `${this.opts.baseUrl.replace(/\/+$/, '')}/${path}`;
    const payload = JSON.stringify(body);
    return this.authorised(ctx, extraHeaders, async (headers) => {
      // Lower-cased and merged as fhir-kit-client does, so a caller's Content-Type replaces the default.
      const merged: Record<string, string> = { accept: 'application/fhir+json', 'content-type': 'application/fhir+json' };
      for (const [name, value] of Object.entries(headers)) merged[name.toLowerCase()] = value;
      const answer = await this.http.request(url, { method: 'POST', headers: merged, body: payload, timeoutMs: this.opts.timeoutMs });
      if (requireEcho) assertEchoed(answer, merged);
      return fhirAnswer(answer);
    });
  }

  /** Closes the kept-alive sockets (shutdown, tests). */
  close(): void {
    this.http.close();
  }

  private async authorised<T>(
    ctx: RequestContext,
    extraHeaders: Record<string, string>,
    send: (headers: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const attempt = async (token: string | undefined): Promise<T> => {
      const headers = {
        'X-Correlation-Id': ctx.correlationId,
        'X-Request-Id': uuidv4(),
        ...extraHeaders,
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      };
      try {
        return await send(headers);
      } catch (err) {
        const verdict = nhsVerdictFor(err);
        if (verdict.verdict === 'failed') throw verdict.error;
        throw new PartnerError('NHS', 'transient', 'NHS FHIR server answered 409', { status: 409 });
      }
    };

    const auth = this.opts.auth;
    if (!auth) return attempt(undefined);
    const token = await auth.accessToken();
    try {
      return await attempt(token);
    } catch (err) {
      // nhs-fhir.md: on 401/403 refresh the token once; a second refusal dead-letters and alerts.
      if (!(err instanceof PartnerError) || err.kind !== 'auth') throw err;
      auth.invalidate(token);
      try {
        return await attempt(await auth.accessToken());
      } catch (again) {
        if (again instanceof PartnerError && again.kind === 'auth') {
          throw new PartnerError('NHS', 'auth', `${again.message} after a token refresh`, {
            ...again.options,
            partnerText: again.partnerText,
          });
        }
        throw again;
      }
    }
  }

  private fhirKit(): Promise<FhirKitClient> {
    this.client ??= loadFhirKit().then(({ Client }) => new Client({ baseUrl: this.opts.baseUrl }));
    return this.client;
  }
}

const ECHOED = ['x-request-id', 'x-correlation-id'] as const;

function assertEchoed(answer: HttpAnswer, sent: Record<string, string>): void {
  if (answer.status < 200 || answer.status >= 300) return;
  const missing = ECHOED.filter((name) => answer.header(name)?.trim().toLowerCase() !== sent[name]?.toLowerCase());
  if (!missing.length) return;
  throw new PartnerError(
    'NHS',
    'transient',
    `NHS BaRS answered ${answer.status} without mirroring ${missing.join(' and ')}: not counted as delivered`,
    {
      status: answer.status,
      detail: `integrity headers not mirrored: ${missing.join(', ')}`,
    },
  );
}

/**
 * The answer as fhir-kit-client gives it: the parsed body, or a rejection shaped like its own
 * (`{ response: { status, data }, config: { headers } }`, which nhsVerdictFor reads). A body that
 * is not JSON is a failure whatever the status. The message names no URL.
 */
function fhirAnswer(answer: HttpAnswer): unknown {
  const text = answer.body.toString('utf8');
  let data: unknown = {};
  let parsed = true;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
      parsed = false;
    }
  }
  if (parsed && answer.status >= 200 && answer.status < 300) return data;
  throw Object.assign(new Error(`HTTP ${answer.status}`), {
    response: { status: answer.status, data },
    config: { headers: { get: (name: string) => answer.header(name) } },
  });
}

let fhirKitModule: Promise<FhirKitModule> | undefined;

/**
 * fhir-kit-client 2.x is ESM-only and its package.json exports only an "import" condition, so
 * the `require('fhir-kit-client')` that TypeScript's CommonJS output emits for a static import
 * fails with ERR_PACKAGE_PATH_NOT_EXPORTED under node, tsx and jest alike. Load it with a real
 * dynamic import (hidden in a Function so the CJS emit cannot rewrite it to require), after
 * first trying require() for runners that map or transpile the package (jest: see
 * test/helpers/fhir-kit-client-jest.ts) and for a future dual-format release.
 */
export function loadFhirKit(): Promise<FhirKitModule> {
  fhirKitModule ??= (async () => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: require first, import() after
      return require('fhir-kit-client') as FhirKitModule;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED' && code !== 'MODULE_NOT_FOUND' && code !== 'ERR_REQUIRE_ESM') throw err;
      return nativeImport('fhir-kit-client');
    }
  })().catch((err: unknown) => {
    fhirKitModule = undefined;
    throw err;
  });
  return fhirKitModule;
}

const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<FhirKitModule>;
