import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * charity-api.md "Webhook to the bridge": `X-Charity-Signature: t={unix seconds},v1={hex
 * HMAC-SHA256(secret, "{t}.{raw body}")}`. Verified over the raw bytes, compared in constant
 * time, refused more than 300 s from now. Several secrets are tried so one can be rotated: the
 * charity signs with the new one while the bridge still accepts the old.
 */
export const SIGNATURE_HEADER = 'x-charity-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type SignatureVerdict = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

export function verifyCharitySignature(
  header: string | undefined,
  rawBody: Buffer,
  secrets: readonly string[],
  nowSeconds: number = Math.floor(Date.now() / 1000),
): SignatureVerdict {
  const checked = checkSignatureHeader(header, nowSeconds);
  if (!checked.ok) return checked;
  const parsed = checked.header;
  const signedPayload = Buffer.concat([Buffer.from(`${parsed.t}.`, 'utf8'), rawBody]);
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(signedPayload).digest();
    // Constant time per comparison: a forger learns nothing from how long a wrong guess took.
    if (parsed.v1.some((given) => given.length === expected.length && timingSafeEqual(given, expected))) return { ok: true };
  }
  return { ok: false, reason: 'mismatch' };
}

/**
 * What can be checked before the body is read: the header is there, well formed, and its time
 * is within the tolerance. The HMAC itself needs the body (verifyCharitySignature).
 */
export function checkSignatureHeader(
  header: string | undefined,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): { ok: true; header: { t: number; v1: Buffer[] } } | { ok: false; reason: 'missing' | 'malformed' | 'stale' } {
  if (!header) return { ok: false, reason: 'missing' };
  const parsed = parseHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSeconds - parsed.t) > SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: 'stale' };
  return { ok: true, header: parsed };
}

/** The header the charity sends; used by the simulator and in the README's example. */
export function signCharityPayload(secret: string, rawBody: Buffer | string, unixSeconds: number): string {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const mac = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${unixSeconds}.`, 'utf8'), body]))
    .digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** `t=…,v1=…[,v1=…]`: one timestamp, one or more hex signatures; anything else is malformed. */
function parseHeader(header: string): { t: number; v1: Buffer[] } | undefined {
  let t: number | undefined;
  const v1: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      t = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return undefined;
      v1.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, future versions) are ignored, as signers add them side by side.
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 };
}
