import type { Request, ResponseObject, ResponseToolkit, Server } from '@hapi/hapi';

/**
 * HTTP fault injection shared by the partner simulators (charity, FHIR server, police RMS), for
 * the end-to-end tests and `npm run chaos`. A fault is decided when a request arrives, after
 * authentication and BEFORE the simulator looks at the request, so a failed call has changed
 * nothing and the client's retry is what does the work. The one exception is 'lost-answer',
 * which is its own kind: the simulator handles the request in full (creates, stores, cancels)
 * and then cuts the connection instead of answering, so only the partner's idempotency (keys,
 * conditional creates) stands between a retry and a duplicate.
 *
 * - '500', '503': that status with the partner's error body;
 * - '429': that status with `Retry-After: 1`;
 * - 'timeout': the request is held for `holdMs` (meant to be longer than the client's timeout),
 *   then answered 504, still without having been handled;
 * - 'reset': the socket is destroyed at once, no response at all;
 * - 'lost-answer': handled, then the socket is destroyed instead of the response;
 * - 'garbled': handled, then a success (2xx) is answered with the same status and an unreadable
 *   body (truncated JSON, an HTML page, or `{}`) — a proxy or a partner bug. Like 'lost-answer',
 *   the work is done and only idempotency makes the retry safe. A non-2xx answer is left as is.
 */
export type FaultKind = '500' | '503' | '429' | 'timeout' | 'reset' | 'lost-answer' | 'garbled';

/** Every kind: what `npm run chaos` uses. */
export const FAULT_KINDS: readonly FaultKind[] = ['500', '503', '429', 'timeout', 'reset', 'lost-answer', 'garbled'];
/** The unreadable bodies a 'garbled' success carries, in turn. */
const GARBLED_BODIES: readonly { type: string; body: string }[] = [
  { type: 'application/json', body: '{"id":"CH-0' },
  { type: 'text/html', body: '<html><body><h1>200 OK</h1><p>Request accepted by gateway</p></body></html>' },
  { type: 'application/json', body: '{}' },
];
/** The kinds that change nothing at the partner (all but 'lost-answer'). */
export const STATELESS_FAULT_KINDS: readonly FaultKind[] = ['500', '503', '429', 'timeout', 'reset'];
export const DEFAULT_FAULT_HOLD_MS = 5000;

export interface FaultSettings {
  /** Fraction (0..1) of the requests that may fail which do fail. */
  errorRate?: number;
  /** The failures to draw from, uniformly. Each simulator documents its default. */
  kinds?: FaultKind[];
  /** How long a 'timeout' holds the request before answering 504. Default 5000 ms. */
  holdMs?: number;
}

export type FaultCounts = Record<FaultKind, number>;

export interface FaultStats {
  /** Requests that could have failed (after authentication, on the routes that take faults). */
  eligible: number;
  /** Faults injected, by kind. */
  injected: FaultCounts;
}

/** The partner's own error body for an injected status. */
export type ErrorResponder = (h: ResponseToolkit, status: 500 | 503 | 429 | 504) => ResponseObject;

export interface FaultInjector {
  /**
   * Carries out the fault drawn for one request (usually `draw()`). Undefined lets the request
   * through; anything else must be returned from the onRequest extension (a takeover response,
   * or h.abandon after a reset). 'lost-answer' also returns undefined: the request goes on and
   * its answer is cut in onPreResponse.
   */
  strike(request: Request, h: ResponseToolkit, kind: FaultKind | undefined): Promise<ResponseObject | symbol | undefined>;
  /** Counts one request that may fail and draws whether it does and how (a second draw from `random` when it does). */
  draw(): FaultKind | undefined;
  /** Change the settings while running (e.g. errorRate 0 to end a chaos phase). */
  set(settings: FaultSettings): void;
  settings(): Required<FaultSettings>;
  stats(): FaultStats;
  /** Counts a request that could have failed (for callers that draw themselves). */
  countEligible(): void;
  /** Answers every held 'timeout' request now (the simulator is stopping). */
  releaseHolds(): void;
}

/**
 * Installs the 'lost-answer' half (onPreResponse) on `server` and returns the injector; the
 * simulator calls `strike` from its own onRequest extension, after its authentication.
 */
export function faultInjector(
  server: Server,
  opts: { settings?: FaultSettings; defaultKinds: readonly FaultKind[]; random: () => number; errorResponse: ErrorResponder },
): FaultInjector {
  let current: Required<FaultSettings> = resolve(opts.settings, opts.defaultKinds);
  const injected: FaultCounts = { '500': 0, '503': 0, '429': 0, timeout: 0, reset: 0, 'lost-answer': 0, garbled: 0 };
  let eligible = 0;
  let garbledTurn = 0;
  const losing = new WeakSet<Request>();
  const garbling = new WeakSet<Request>();
  const holds = new Set<() => void>();

  server.ext('onPreResponse', (request, h) => {
    if (garbling.has(request)) {
      const response = request.response as ResponseObject & { isBoom?: boolean };
      const status = response.isBoom ? 500 : response.statusCode;
      if (status < 200 || status >= 300) return h.continue;
      const garbled = GARBLED_BODIES[garbledTurn++ % GARBLED_BODIES.length]!;
      return h.response(garbled.body).type(garbled.type).code(status);
    }
    if (!losing.has(request)) return h.continue;
    // The work is done (created, stored, cancelled); the caller never hears about it.
    request.raw.req.socket?.destroy();
    return h.abandon;
  });

  const draw = (): FaultKind | undefined => {
    eligible += 1;
    if (current.errorRate <= 0 || current.kinds.length === 0 || !(opts.random() < current.errorRate)) return undefined;
    return current.kinds[Math.min(current.kinds.length - 1, Math.floor(opts.random() * current.kinds.length))];
  };

  const strike = async (
    request: Request,
    h: ResponseToolkit,
    kind: FaultKind | undefined,
  ): Promise<ResponseObject | symbol | undefined> => {
    if (!kind) return undefined;
    injected[kind] += 1;
    switch (kind) {
      case '500':
        return opts.errorResponse(h, 500).takeover();
      case '503':
        return opts.errorResponse(h, 503).takeover();
      case '429':
        return opts.errorResponse(h, 429).header('Retry-After', '1').takeover();
      case 'timeout':
        await new Promise<void>((resolveHold) => {
          const done = () => {
            clearTimeout(timer);
            holds.delete(done);
            resolveHold();
          };
          const timer = setTimeout(done, current.holdMs);
          timer.unref();
          holds.add(done);
        });
        return opts.errorResponse(h, 504).takeover();
      case 'reset':
        request.raw.req.socket?.destroy();
        return h.abandon;
      case 'lost-answer':
        losing.add(request);
        return undefined;
      case 'garbled':
        garbling.add(request);
        return undefined;
    }
  };

  return {
    strike,
    draw,
    set: (settings) => {
      current = resolve({ ...current, ...settings }, opts.defaultKinds);
    },
    settings: () => ({ ...current, kinds: [...current.kinds] }),
    stats: () => ({ eligible, injected: { ...injected } }),
    countEligible: () => {
      eligible += 1;
    },
    releaseHolds: () => {
      for (const done of [...holds]) done();
    },
  };
}

function resolve(settings: FaultSettings | undefined, defaultKinds: readonly FaultKind[]): Required<FaultSettings> {
  const errorRate = settings?.errorRate ?? 0;
  if (!(errorRate >= 0 && errorRate <= 1)) throw new Error(`fault errorRate must be between 0 and 1, got ${errorRate}`);
  const kinds = [...(settings?.kinds ?? defaultKinds)];
  for (const kind of kinds) if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown fault kind: ${kind}`);
  return { errorRate, kinds, holdMs: settings?.holdMs ?? DEFAULT_FAULT_HOLD_MS };
}
