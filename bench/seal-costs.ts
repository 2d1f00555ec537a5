import { createCipheriv, randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import { parseFeed } from '../src/adapters/police/feed-parser';
import { loadConfig } from '../src/config';
import { charityView, nhsView } from '../src/mappings/allow-lists';
import { mapCrimeRecord } from '../src/mappings/police-to-referral';
import { referralToCharityPayload } from '../src/mappings/referral-to-charity';
import { referralToBarsMessage } from '../src/mappings/referral-to-bars';
import { referralToTransactionBundle } from '../src/mappings/referral-to-fhir';
import { barsMappingOptions, fhirMappingOptions } from '../src/pipeline/delivery/nhs-delivery';
import { DataCipher, generateDataKeySpec } from '../src/store/crypto';
import { feedDocument, generateFeedRecords } from '../simulators/feed-generator';

/**
 * `npx tsx bench/seal-costs.ts`: what sealing costs in Redis memory and CPU, for the payloads the
 * bridge seals (the police record in the intake job, the referral, the frozen outbound payload),
 * built by the real mappings from simulated records. Compares the uncompressed `enc1` format with
 * the current one, and the current one stored as binary. Redis: BENCH_REDIS_URL or 127.0.0.1:6379.
 */
const RUNS = 5;
const PER_RUN = 5000;

/** The format before compression, to compare against. */
function sealEnc1(key: Buffer, plain: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['enc1', 'k1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/** The same parts as bytes, as a binary value would hold them (header, iv, tag, ciphertext). */
function asBinary(sealed: string): Buffer {
  const [version, keyId, iv, tag, body] = sealed.split('.');
  return Buffer.concat([Buffer.from(`${version}.${keyId}.`), ...[iv, tag, body].map((p) => Buffer.from(p!, 'base64url'))]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median over runs of the CPU µs per call, cycling through the inputs. */
function cpuPerOp<T>(inputs: T[], op: (input: T) => unknown): number {
  const runs: number[] = [];
  for (let run = 0; run <= RUNS; run++) {
    const before = process.cpuUsage();
    for (let i = 0; i < PER_RUN; i++) op(inputs[i % inputs.length]!);
    const used = process.cpuUsage(before);
    // The first run warms the JIT.
    if (run > 0) runs.push((used.user + used.system) / PER_RUN);
  }
  return Math.round(median(runs) * 10) / 10;
}

async function payloads(): Promise<Record<string, unknown[]>> {
  const config = loadConfig({
    REDIS_URL: 'redis://127.0.0.1:6379',
    HTTP_PORT: '0',
    DATA_KEYS: generateDataKeySpec('bench'),
    POLICE_PUSH_TOKEN: 'bench',
    API_JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
    NHS_BARS_USE_CASE: 'a4t3',
  });
  const generated = generateFeedRecords({ records: 200, seed: 7, prefix: 'BENCH', now: new Date() });
  const feed = await parseFeed(feedDocument(generated.map((g) => g.xml)), {
    maxBytes: config.police.maxDocumentBytes,
    maxValueChars: config.police.maxValueChars,
    crimeRefPattern: config.police.crimeRefPattern,
  });
  const out: Record<string, unknown[]> = {
    'police record (job)': [],
    referral: [],
    'FHIR bundle': [],
    'BaRS message': [],
    'charity JSON': [],
  };
  for (const result of feed.records) {
    if (!result.ok) continue;
    out['police record (job)']!.push(result.record);
    for (const { referral, decision } of mapCrimeRecord(result.record, config.force.name).referrals) {
      out.referral!.push(referral);
      if (decision !== 'QUEUED') continue;
      if (referral.type === 'CLINICAL') {
        out['FHIR bundle']!.push(referralToTransactionBundle(nhsView(referral), fhirMappingOptions(config)));
        out['BaRS message']!.push(
          referralToBarsMessage(nhsView(referral), { ...barsMappingOptions(config), assembledAt: new Date().toISOString() }),
        );
      } else {
        out['charity JSON']!.push(
          referralToCharityPayload(charityView(referral), { referrerOrganisation: config.charity.referrerOrganisation }),
        );
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const key = randomBytes(32);
  const cipher = new DataCipher([{ id: 'k1', key }]);
  const redis = new IORedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `{iasu-seal-costs-${Date.now().toString(36)}}`;
  const memory = async (value: string | Buffer, i: number): Promise<number> => {
    const k = `${prefix}:${i}`;
    await redis.set(k, value, 'EX', 600);
    return (await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) as number;
  };
  const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const rows: Record<string, unknown>[] = [];
  try {
    for (const [kind, values] of Object.entries(await payloads())) {
      const json = values.map((v) => JSON.stringify(v));
      const enc1 = json.map((j) => sealEnc1(key, j, 'aad'));
      const enc2 = json.map((j) => cipher.encrypt(j, 'aad'));
      const mem = { enc1: [] as number[], enc2: [] as number[], enc2Binary: [] as number[] };
      for (let i = 0; i < values.length; i++) {
        mem.enc1.push(await memory(enc1[i]!, i));
        mem.enc2.push(await memory(enc2[i]!, i));
        mem.enc2Binary.push(await memory(asBinary(enc2[i]!), i));
      }
      rows.push({
        payload: `${kind} ×${values.length}`,
        jsonBytes: mean(json.map((j) => Buffer.byteLength(j))),
        enc1Bytes: mean(enc1.map((s) => s.length)),
        enc2Bytes: mean(enc2.map((s) => s.length)),
        redisEnc1: mean(mem.enc1),
        redisEnc2: mean(mem.enc2),
        redisEnc2Binary: mean(mem.enc2Binary),
        sealEnc1Us: cpuPerOp(values, (v) => sealEnc1(key, JSON.stringify(v), 'aad')),
        sealEnc2Us: cpuPerOp(values, (v) => cipher.sealJson(v, 'aad')),
        openEnc1Us: cpuPerOp(enc1, (s) => cipher.openJson(s, 'aad')),
        openEnc2Us: cpuPerOp(enc2, (s) => cipher.openJson(s, 'aad')),
      });
    }
    console.table(rows);
    process.stdout.write(`${JSON.stringify({ node: process.version, runs: RUNS, perRun: PER_RUN, rows })}\n`);
  } finally {
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
  }
}

void main();
