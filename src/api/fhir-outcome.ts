import type { Boom } from '@hapi/boom';
import type { ResponseToolkit } from '@hapi/hapi';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { BARS_ERROR_CODE_SYSTEM } from '../mappings/operation-outcome';

export const FHIR_JSON = 'application/fhir+json';

type IssueCode = NonNullable<OperationOutcome['issue']>[number]['code'];

/**
 * An answer to the trust as its own BaRS API answers: an OperationOutcome with a BaRS code and
 * the words in `diagnostics`, as the BaRS API's examples carry them (and in `details.text`).
 */
export function barsOutcome(h: ResponseToolkit, status: number, barsCode: string, issueCode: string, text: string) {
  const body: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: issueCode as IssueCode,
        details: { coding: [{ system: BARS_ERROR_CODE_SYSTEM, code: barsCode }], text },
        diagnostics: text,
      },
    ],
  };
  return h.response(body).code(status).type(FHIR_JSON);
}

/** The receiver's (REC_) code and issue code for an HTTP status, after the BaRS API's examples. */
export function receiverCodeFor(status: number): { barsCode: string; issueCode: string } {
  const known: Record<number, [string, string]> = {
    400: ['REC_BAD_REQUEST', 'invalid'],
    401: ['REC_UNAUTHORIZED', 'forbidden'],
    403: ['REC_FORBIDDEN', 'forbidden'],
    404: ['REC_NOT_FOUND', 'not-found'],
    405: ['REC_METHOD_NOT_ALLOWED', 'not-supported'],
    406: ['REC_NOT_ACCEPTABLE', 'processing'],
    408: ['REC_TIMEOUT', 'timeout'],
    409: ['REC_CONFLICT', 'conflict'],
    413: ['REC_BAD_REQUEST', 'too-costly'],
    415: ['REC_BAD_REQUEST', 'not-supported'],
    422: ['REC_UNPROCESSABLE_ENTITY', 'invalid'],
    429: ['REC_TOO_MANY_REQUESTS', 'throttled'],
    501: ['REC_NOT_IMPLEMENTED', 'not-supported'],
    503: ['REC_SERVICE_UNAVAILABLE', 'transient'],
  };
  const [barsCode, issueCode] = known[status] ?? (status >= 500 ? ['REC_SERVER_ERROR', 'exception'] : ['REC_BAD_REQUEST', 'invalid']);
  return { barsCode, issueCode };
}

/**
 * A hapi error (body too large, wrong media type, an exception) as the OperationOutcome a BaRS
 * receiver answers, same status and headers. hapi's own messages name no request content.
 */
export function boomAsOutcome(h: ResponseToolkit, boom: Boom) {
  const status = boom.output.statusCode;
  const { barsCode, issueCode } = receiverCodeFor(status);
  const response = barsOutcome(h, status, barsCode, issueCode, boom.output.payload.message || boom.output.payload.error);
  for (const [name, value] of Object.entries(boom.output.headers)) if (value !== undefined) response.header(name, String(value));
  return response;
}
