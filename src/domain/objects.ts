/** Deletes keys whose value is undefined (in place), so absent fields stay absent in JSON and in equality checks. */
export function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
