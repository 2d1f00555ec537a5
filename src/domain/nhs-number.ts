/** Strips spaces; returns the 10-digit number if it passes the NHS Modulus 11 check, else undefined. */
export function normaliseNhsNumber(input: string): string | undefined {
  const digits = input.replace(/\s+/g, '');
  if (!/^\d{10}$/.test(digits)) return undefined;
  return isValidNhsNumber(digits) ? digits : undefined;
}

export function isValidNhsNumber(digits: string): boolean {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return false;
  return (check === 11 ? 0 : check) === Number(digits[9]);
}
