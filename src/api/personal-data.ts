import Boom from '@hapi/boom';
import Joi from 'joi';
import type { Request } from '@hapi/hapi';
import type { Logger } from '../logger';
import { SCOPE } from './auth';

/** The query of a route that can show personal data on request. */
export const includePersonalQuery = Joi.object({ include: Joi.string().valid('personal') });

/** Whether `?include=personal` was asked for; only an admin may ask (403 otherwise). */
export function wantsPersonalData(request: Request, what: string): boolean {
  if ((request.query as { include?: string }).include !== 'personal') return false;
  const scopes = (request.auth.credentials as { scope?: unknown }).scope;
  if (!Array.isArray(scopes) || !scopes.includes(SCOPE.admin)) throw Boom.forbidden(`personal data in ${what} needs the admin scope`);
  return true;
}

/**
 * Writes the audit event of a read of personal data, or refuses to show it (503): an operator's
 * read of personal data never goes unrecorded.
 */
export async function auditOrWithhold(logger: Logger, write: () => Promise<unknown>, about: Record<string, string>): Promise<void> {
  try {
    await write();
  } catch (err) {
    logger.error({ alert: true, err: (err as Error)?.message, ...about }, 'audit write failed; personal data withheld');
    throw Boom.serverUnavailable('personal data cannot be shown: the audit trail could not be written');
  }
}
