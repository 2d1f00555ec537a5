import type { Request } from '@hapi/hapi';

/**
 * How many body bytes one route may hold at once. hapi buffers a body whole before the handler
 * runs, so without a bound a few authenticated but oversized or slow partners could hold the
 * process's memory. A request reserves its declared length (or the route's limit, when it sends
 * none) once its credential is accepted and before its body is read, and gives it back when its
 * response is done or its connection closes. One request up to the route's limit always fits
 * when nothing else is in flight.
 */
export class PayloadBudget {
  #inFlight = 0;

  constructor(readonly capacityBytes: number) {}

  get bytesInFlight(): number {
    return this.#inFlight;
  }

  /** A release function, or undefined when the bytes do not fit now (one body up to `atLeast` always fits alone). */
  tryReserve(bytes: number, atLeast = 0): (() => void) | undefined {
    if (this.#inFlight + bytes > Math.max(this.capacityBytes, atLeast)) return undefined;
    this.#inFlight += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight -= bytes;
    };
  }

  /**
   * Reserves the request's body for as long as the request lives; false when it does not fit
   * (the caller answers 503 with RETRY_AFTER_SECONDS). A declared length over the route's limit
   * reserves nothing: hapi refuses it (413) without reading it.
   */
  admit(request: Request): boolean {
    const maxBytes = request.route.settings.payload?.maxBytes ?? DEFAULT_MAX_BYTES;
    const declared = declaredLength(request);
    if (declared === 0 || (declared !== undefined && declared > maxBytes)) return true;
    const release = this.tryReserve(declared ?? maxBytes, maxBytes);
    if (!release) return false;
    const res = request.raw.res;
    res.once('finish', release);
    res.once('close', release);
    return true;
  }
}

/** hapi's own default for a route that sets no payload.maxBytes. */
const DEFAULT_MAX_BYTES = 1024 * 1024;

/** What a refused request is told to wait before trying again. */
export const RETRY_AFTER_SECONDS = 5;

function declaredLength(request: Request): number | undefined {
  const header: unknown = request.headers['content-length'];
  if (header === undefined) return request.headers['transfer-encoding'] ? undefined : 0;
  return typeof header === 'string' && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
}
