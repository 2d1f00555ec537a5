export const CENSOR = '[REDACTED]';

/** Deeper than this, a value is censored whole: no log line has a reason to nest so far, and a walk must end. */
export const MAX_DEPTH = 8;

/**
 * A log line's object with every value under a personal key censored, at any depth up to
 * MAX_DEPTH, in objects, arrays and errors alike. Copy-on-write: what holds no personal key is
 * returned as it is, and the caller's object is never changed.
 *
 * It stands in for pino's `redact` paths: those needed a wildcard path per key and depth (120),
 * and pino's redactor parses every path again for every value of every line: 27-57 µs a line,
 * against 2-4 µs for this walk.
 */
export function redactor(personalKeys: readonly string[]): <T extends object>(value: T) => T {
  const personal = new Set(personalKeys);

  const walk = (value: unknown, depth: number, seen: Set<object>): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (depth > MAX_DEPTH) return CENSOR;
    if (seen.has(value)) return '[Circular]';
    if (value instanceof Date || ArrayBuffer.isView(value)) return value;
    seen.add(value);
    try {
      if (Array.isArray(value)) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          const next = walk(item, depth + 1, seen);
          if (next !== item) (copy ??= value.slice())[i] = next;
        }
        return copy ?? value;
      }
      // pino's serializer writes an error's enumerable fields beside its message and stack.
      if (value instanceof Error) return fields(value, depth, seen, Object.keys(value), copyError);
      const source = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
      if (source !== value) return walk(source, depth, seen);
      return fields(value, depth, seen, Object.keys(value), (v) => ({ ...v }));
    } finally {
      seen.delete(value);
    }
  };

  /** `value` with the named fields walked, copied (by `copy`) only when one of them changes. */
  const fields = <T extends object>(value: T, depth: number, seen: Set<object>, names: string[], copy: (v: T) => T): T => {
    let out: Record<string, unknown> | undefined;
    for (const key of names) {
      const field = (value as Record<string, unknown>)[key];
      const next = personal.has(key) && field !== undefined ? CENSOR : walk(field, depth + 1, seen);
      if (next !== field) (out ??= copy(value) as Record<string, unknown>)[key] = next;
    }
    return (out as T | undefined) ?? value;
  };

  return <T extends object>(value: T): T => walk(value, 0, new Set()) as T;
}

/**
 * The same kind of error with the same message, stack and fields, so pino's serializer still
 * names its type; the original, which others may hold, is left as it was.
 */
function copyError<E extends Error>(err: E): E {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(err)) copy[name] = (err as unknown as Record<string, unknown>)[name];
  return copy as unknown as E;
}
