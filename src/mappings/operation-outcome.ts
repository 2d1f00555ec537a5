import type { OperationOutcome } from '@medplum/fhirtypes';

/** The BaRS error code system (issue.details.coding), in both directions. */
export const BARS_ERROR_CODE_SYSTEM = 'https://fhir.nhs.uk/Codesystem/http-error-codes';
export const DETAIL_MAX_CHARS = 500;

/**
 * An OperationOutcome in two parts. `detail` is structured and kept in clear: per issue its
 * BaRS code, issue code and FHIRPath expressions/locations. `text` is the issues' own words
 * (diagnostics, details.text), which trusts write for people and which often quote the patient:
 * it is only ever stored sealed. Both capped at DETAIL_MAX_CHARS.
 */
export function summariseOutcome(body: unknown): { detail?: string; code?: string; text?: string } {
  const outcome = body as Partial<OperationOutcome> | undefined;
  if (!outcome || typeof outcome !== 'object' || outcome.resourceType !== 'OperationOutcome' || !Array.isArray(outcome.issue)) return {};
  let code: string | undefined;
  const parts: string[] = [];
  const texts: string[] = [];
  for (const issue of outcome.issue) {
    if (!issue || typeof issue !== 'object') continue;
    const barsCode = issue.details?.coding?.find((c) => c?.system === BARS_ERROR_CODE_SYSTEM)?.code;
    const cleanCode = typeof barsCode === 'string' && BARS_CODE.test(barsCode) ? barsCode : '';
    code ??= cleanCode || undefined;
    const part = structuredIssue(cleanCode, issue.code, [...stringsOf(issue.expression), ...stringsOf(issue.location)]);
    if (part) parts.push(part);
    const words = [issue.diagnostics, issue.details?.text].filter((t): t is string => typeof t === 'string' && t.trim() !== '');
    if (words.length) texts.push(words.join(' | '));
  }
  const detail = parts.join('; ').slice(0, DETAIL_MAX_CHARS);
  const text = texts
    .join('; ')
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .slice(0, DETAIL_MAX_CHARS);
  return { ...(detail ? { detail } : {}), ...(code ? { code } : {}), ...(text ? { text } : {}) };
}

function structuredIssue(barsCode: string, issueCode: unknown, where: string[]): string {
  const codes = [barsCode, typeof issueCode === 'string' && ISSUE_CODE.test(issueCode) ? `(${issueCode})` : ''].filter(Boolean);
  const at = where.map(safeExpression).filter(Boolean);
  return [...codes, ...(at.length ? [`at ${at.join(', ')}`] : [])].join(' ');
}

/**
 * A FHIRPath expression is structure, kept in clear; but its string literals and long numbers
 * may be the very value the trust matched on (`identifier.where(value='9434765919')`), so they
 * are replaced. A literal that is a URL (a code system) stays.
 */
export function safeExpression(expression: string): string {
  return expression
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, (literal) => (/^['"]https?:\/\/[^\s'"]*['"]$/.test(literal) ? literal : "'…'"))
    .replace(/\d{5,}/g, '…')
    .slice(0, 200);
}

/** Codes are kept only when shaped as codes: anything else in a code field is the partner's words. */
const BARS_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const ISSUE_CODE = /^[a-z][a-z-]{0,39}$/;

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
