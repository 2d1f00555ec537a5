import type { BridgeContext } from '../../context';
import type { ParsedFeed } from '../../adapters/police/feed-parser';
import type { RecordParseResult } from '../../adapters/police/record-validator';
import { recordDigest } from '../../domain/record-digest';
import { countHeld } from '../../mappings/police-to-referral';
import { intakeJobId, PAGE_JOB_RECORDS, type IntakeJob } from '../../queues/topology';
import { createHash } from 'node:crypto';
import { correlationIdFor } from './correlation';
import type { AuditEventInput } from '../../store/audit-log';

/**
 * A feed document (pulled or pushed) → every record durably queued for intake or quarantined
 * with its reason. Resolves only when all of that is in Redis; throws FeedError when the
 * document as a whole is unreadable.
 */
export interface IngestSummary {
  accepted: number;
  /** Referrals that will wait for consent or a lawful basis (known now, since mapping is pure). */
  held: number;
  quarantined: { crimeReference?: string; reason: string }[];
  cursor?: ParsedFeed['cursor'];
}

/** Names the rule, never the values that differ. */
export const CONFLICT_REASON = 'conflict: RecordVersion was received before with different content';

export async function ingestDocument(ctx: BridgeContext, document: Buffer, source: 'pull' | 'push'): Promise<IngestSummary> {
  const { config, counters } = ctx;
  let feed: ParsedFeed;
  try {
    feed = await ctx.feedParser.parse(document, {
      maxBytes: config.police.maxDocumentBytes,
      maxValueChars: config.police.maxValueChars,
      crimeRefPattern: config.police.crimeRefPattern,
    });
  } catch (err) {
    await counters.add('documentsRejected');
    throw err;
  }
  const summary = await ingestRecords(
    ctx,
    feed.records,
    feed.force ?? config.force.name,
    source,
    source === 'push' ? 'police-push' : 'police-poll',
    feed.digests,
  );
  return { ...summary, cursor: feed.cursor };
}

/**
 * Records already read (from a document, or a quarantined one read again) → each queued for
 * intake or quarantined with its reason, durably, before this resolves. `digests`: the records'
 * digests where the parser computed them (by index); the rest are computed here.
 */
export async function ingestRecords(
  ctx: BridgeContext,
  records: RecordParseResult[],
  force: string,
  source: 'pull' | 'push' | 'release',
  actor: string,
  digests: readonly (string | undefined)[] = [],
): Promise<IngestSummary> {
  const { queues, quarantine, referrals, cipher, counters, logger, audit } = ctx;
  const summary: IngestSummary = { accepted: 0, held: 0, quarantined: [] };
  const feed = { records };

  // A version already received with other content is a conflict, not a re-send: kept out of
  // intake (whose job id would silently drop it, or apply it over the first) and quarantined.
  const valid = feed.records.flatMap((r, i) => (r.ok ? [{ record: r.record, digest: digests[i] ?? recordDigest(r.record) }] : []));
  const firstContent = await referrals.claimVersionDigests(
    valid.map(({ record, digest }) => ({ crimeReference: record.crimeReference, recordVersion: record.recordVersion, digest })),
  );
  const conflicting = new Set(valid.filter((_, i) => !firstContent[i]).map((v) => v.record));

  const jobs = [];
  const quarantinedEvents: AuditEventInput[] = [];
  for (const [index, parsed] of feed.records.entries()) {
    const result: RecordParseResult =
      parsed.ok && conflicting.has(parsed.record)
        ? {
            ok: false,
            index,
            crimeReference: parsed.record.crimeReference,
            recordVersion: parsed.record.recordVersion,
            reason: CONFLICT_REASON,
            raw: parsed.record,
          }
        : parsed;
    if (!result.ok) {
      await quarantine.add(
        { crimeReference: result.crimeReference, recordVersion: result.recordVersion, reason: result.reason, source },
        result.raw,
      );
      summary.quarantined.push({ crimeReference: result.crimeReference, reason: result.reason });
      logger.warn({ crimeReference: result.crimeReference, reason: result.reason, source }, 'record quarantined');
      // The reason names a field and a rule (free text): the audit keeps only that it happened.
      quarantinedEvents.push({
        actor,
        action: 'record.quarantined',
        partner: 'POLICE',
        outcome: 'quarantined',
        ...(result.crimeReference ? { crimeReference: result.crimeReference } : {}),
      });
      continue;
    }
    const { record } = result;
    summary.held += countHeld(record);
    const correlationId = correlationIdFor(force, record.crimeReference, record.recordVersion);
    const jobId = intakeJobId(record.crimeReference, record.recordVersion);
    jobs.push({
      name: 'record',
      data: {
        // Read once by intake, and the job removed soon after it completes: not worth compressing.
        sealed: cipher.sealJson(record, jobId, { compress: false }),
        crimeReference: record.crimeReference,
        recordVersion: record.recordVersion,
        force,
        correlationId,
        source,
      },
      opts: { jobId },
    });
  }
  // One round trip for the page; deterministic job ids make a re-read page a no-op. A push of one
  // record skips addBulk's pipeline, which cost more than the job itself.
  if (jobs.length === 1) await queues.intake.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
  else if (jobs.length > PAGE_JOB_RECORDS) await queues.intake.addBulk(pageJobs(jobs.map((j) => j.data)));
  else if (jobs.length > 1) await queues.intake.addBulk(jobs);
  // The page's events in one append (a script call per hundred), not one per record.
  await audit.recordMany([
    ...quarantinedEvents,
    ...jobs.map((job): AuditEventInput => ({
      actor,
      action: 'record.ingested',
      partner: 'POLICE',
      crimeReference: job.data.crimeReference,
      outcome: `queued_v${job.data.recordVersion}`,
    })),
  ]);
  summary.accepted = jobs.length;
  await Promise.all([counters.add('recordsRead', feed.records.length), counters.add('recordsQuarantined', summary.quarantined.length)]);
  return summary;
}

/**
 * A bulk document's records, PAGE_JOB_RECORDS to a job. The job id is the digest of its records'
 * job ids, so a page read again is the same jobs.
 */
function pageJobs(records: IntakeJob[]): { name: 'page'; data: { page: IntakeJob[] }; opts: { jobId: string } }[] {
  const out = [];
  for (let i = 0; i < records.length; i += PAGE_JOB_RECORDS) {
    const page = records.slice(i, i + PAGE_JOB_RECORDS);
    const digest = createHash('sha256');
    for (const r of page) digest.update(`${intakeJobId(r.crimeReference, r.recordVersion)}\n`);
    out.push({ name: 'page' as const, data: { page }, opts: { jobId: `page-${digest.digest('hex').slice(0, 32)}` } });
  }
  return out;
}
