import fc from 'fast-check';
import { v5 as uuidv5 } from 'uuid';
import { nameUuid } from '../../src/domain/name-uuid';
import { REFERRAL_ID_NAMESPACE } from '../../src/domain/referral-id';
import { FHIR_FULLURL_NAMESPACE } from '../../src/mappings/referral-to-fhir';

/** Referral ids are idempotency keys at the partners: the values must never change. */
describe('nameUuid', () => {
  it('gives the uuid package’s v5 value for any name, in every namespace the bridge uses', () => {
    for (const namespace of [REFERRAL_ID_NAMESPACE, FHIR_FULLURL_NAMESPACE, uuidv5.URL, uuidv5.DNS]) {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (name) => nameUuid(name, namespace) === uuidv5(name, namespace)),
        { numRuns: 500 },
      );
    }
  });

  it('keeps the values already issued', () => {
    expect(nameUuid('urn:iasu:referral', uuidv5.URL)).toBe(REFERRAL_ID_NAMESPACE);
    expect(nameUuid('CHESHIRE:CC-26-0001234:CLINICAL:P2', REFERRAL_ID_NAMESPACE)).toBe(
      uuidv5('CHESHIRE:CC-26-0001234:CLINICAL:P2', REFERRAL_ID_NAMESPACE),
    );
  });

  it('refuses a namespace that is not a UUID', () => {
    expect(() => nameUuid('x', 'not-a-uuid')).toThrow('namespace must be a UUID');
  });
});
