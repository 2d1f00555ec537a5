import Joi from 'joi';

/**
 * The shape readBarsResponse relies on in a trust's response Bundle: each field it reads has the
 * FHIR type (arrays are arrays, strings are strings, codes are from their value set). Everything
 * else in the Bundle is left alone (FHIR resources carry many fields the bridge does not read).
 * A body off this shape is the trust's error (400), not the bridge's.
 */
const STRING_MAX = 1024;
const SERVICE_REQUEST_STATUSES = ['draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown'];
const ENCOUNTER_STATUSES = [
  'planned',
  'arrived',
  'triaged',
  'in-progress',
  'onleave',
  'finished',
  'cancelled',
  'entered-in-error',
  'unknown',
];

const str = Joi.string().max(STRING_MAX);
const element = (keys: Record<string, Joi.Schema>) => Joi.object(keys).unknown(true);

const messageHeader = element({
  eventCoding: element({ system: str, code: str }),
  focus: Joi.array().items(element({ reference: str })),
  response: element({ identifier: str, code: str }),
});
const serviceRequest = element({
  status: Joi.string().valid(...SERVICE_REQUEST_STATUSES),
  identifier: Joi.array().items(element({ system: str, value: str })),
});
const encounter = element({ status: Joi.string().valid(...ENCOUNTER_STATUSES) });
const operationOutcome = element({
  // Issue text is capped when read, so only its type matters here.
  issue: Joi.array().items(element({ diagnostics: Joi.string(), code: str, details: element({ text: Joi.string() }) })),
});

const resource = Joi.alternatives().conditional('.resourceType', {
  switch: [
    { is: 'MessageHeader', then: messageHeader },
    { is: 'ServiceRequest', then: serviceRequest },
    { is: 'Encounter', then: encounter },
    { is: 'OperationOutcome', then: operationOutcome },
  ],
  otherwise: element({ resourceType: str.required() }),
});

const bundle = element({
  id: Joi.string(),
  type: Joi.string(),
  entry: Joi.array().items(element({ fullUrl: str, resource: resource.required() })),
});

/** Undefined when the Bundle has the shape; otherwise what is wrong, with its path (no values). */
export function barsResponseShapeError(body: object): string | undefined {
  const { error } = bundle.validate(body, { abortEarly: true, convert: false });
  return error ? (error.details[0]?.message ?? error.message) : undefined;
}
