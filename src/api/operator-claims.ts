import { isAuditableActor } from '../store/audit-log';

/**
 * What an operator's token must claim, beyond its signature and audience: a subject the audit
 * trail can name as it is, and a lifetime of at most 12 hours that has started. Pure, so each
 * rule is tested on its own; the JWT strategy refuses (401) a token that fails any.
 */
export const CLOCK_SKEW_SECONDS = 60;
export const MAX_TOKEN_LIFETIME_SECONDS = 12 * 3600;

/** The audit trail's name for an operator. */
export function operatorActor(sub: string): string {
  return `operator:${sub}`;
}

/**
 * Why the subject cannot be accepted, or undefined. OpenID Connect subjects are printable
 * ASCII up to 255 characters; one that looks like contact details (an email, a phone number)
 * or an NHS number is refused rather than audited as someone unknown.
 */
export function subjectProblem(sub: unknown): string | undefined {
  if (typeof sub !== 'string' || sub.length === 0) return 'sub is missing';
  if (sub.length > 255 || !/^[\x21-\x7e]+$/.test(sub)) return 'sub is not printable ASCII of at most 255 characters';
  if (!isAuditableActor(operatorActor(sub))) return 'sub looks like personal data; use an opaque subject';
  return undefined;
}

/** Why the token's times cannot be accepted, or undefined: `exp` and `iat` required, neither `iat` nor `nbf` in the future. */
export function tokenTimesProblem(payload: Record<string, unknown>, nowSeconds: number): string | undefined {
  const { exp, iat, nbf } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'exp is required';
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'iat is required';
  if (iat > nowSeconds + CLOCK_SKEW_SECONDS) return 'iat is in the future';
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds + CLOCK_SKEW_SECONDS)) return 'nbf is in the future';
  if (exp <= nowSeconds - CLOCK_SKEW_SECONDS) return 'token expired';
  if (exp - iat > MAX_TOKEN_LIFETIME_SECONDS) return 'token lives longer than 12 hours';
  return undefined;
}
