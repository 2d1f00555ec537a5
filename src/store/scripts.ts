import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script by its SHA (EVALSHA), sent in full only when Redis does not have it yet (after a
 * restart or failover): the hot paths run a script per status change and per audit event, and
 * resending the text each time was a measurable share of the bridge's CPU and bandwidth.
 */
const shas = new Map<string, string>();

export async function runScript(redis: Redis, script: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown> {
  let sha = shas.get(script);
  if (!sha) {
    sha = createHash('sha1').update(script).digest('hex');
    shas.set(script, sha);
  }
  try {
    return await redis.evalsha(sha, numKeys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return redis.eval(script, numKeys, ...args);
  }
}

/** A reply that lists names and values in turn (HGETALL inside a script, a stream entry's fields) as a record. */
export function fieldsOf(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}
