/** The outward code (district) of a UK postcode: "WA1 1AA" → "WA1". Undefined if it does not look like one. */
export function postcodeDistrict(postcode: string | undefined): string | undefined {
  if (!postcode) return undefined;
  const compact = postcode.toUpperCase().replace(/\s+/g, '');
  // The inward code is always digit + two letters; the outward code is 2-4 characters before it.
  const match = /^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$/.exec(compact);
  return match?.[1];
}
