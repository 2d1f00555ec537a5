import type { ResponseToolkit } from '@hapi/hapi';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { BARS_ERROR_CODE_SYSTEM } from '../adapters/nhs/errors';

export const FHIR_JSON = 'application/fhir+json';

/** An answer to the trust as its own BaRS API answers: an OperationOutcome with a BaRS code. */
export function barsOutcome(h: ResponseToolkit, status: number, barsCode: string, issueCode: string, text: string) {
  const body: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: issueCode as NonNullable<OperationOutcome['issue']>[number]['code'],
        details: { coding: [{ system: BARS_ERROR_CODE_SYSTEM, code: barsCode }], text },
      },
    ],
  };
  return h.response(body).code(status).type(FHIR_JSON);
}
