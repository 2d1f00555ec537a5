import { PartnerError } from '../../adapters/partner-error';
import type { BridgeContext } from '../../context';
import { applyCharityUpdate } from './charity-updates';

/**
 * charity-api.md: "The bridge also polls, so a lost webhook is never a lost status". Pages
 * `GET /v1/referrals?updatedSince=` from a watermark kept in Redis and applies each item
 * through the same path as the webhooks (the charity's order, then the state machine), so an
 * update seen twice changes nothing.
 */
export interface CharityPollSummary {
  pages: number;
  items: number;
  applied: number;
  recorded: number;
  ignored: number;
  /** Items naming a referral the bridge does not know (orphans at the charity). */
  unknown: number;
  busy: number;
  watermark: string;
}

/**
 * Read again on the next round: the charity's clock and ours differ, and items updated in the
 * same instant as the last one seen may not all have been listed yet.
 */
export const WATERMARK_OVERLAP_MS = 5_000;
const MAX_PAGES = 1_000;
/**
 * A page that fails transiently is asked for again (same cursor) before the round gives up. The
 * watermark moves only after a whole round, so without this a flaky charity (a share of calls
 * failing) with a backlog of many pages would almost never complete one, and a lost webhook's
 * status would wait for the charity to be healthy again.
 */
const PAGE_ATTEMPTS = 3;
const MAX_PAGE_WAIT_MS = 5_000;

export async function pollCharityUpdates(ctx: BridgeContext, now: Date = new Date()): Promise<CharityPollSummary> {
  const key = ctx.keys.charityWatermark();
  const since = (await ctx.redis.get(key)) ?? (await initialWatermark(ctx, now));
  const summary: CharityPollSummary = { pages: 0, items: 0, applied: 0, recorded: 0, ignored: 0, unknown: 0, busy: 0, watermark: since };
  let newest = Date.parse(since);
  let oldestBusy = Infinity;
  let cursor: string | undefined;
  do {
    const page = await listPage(ctx, since, cursor, `charity-poll-${now.getTime()}`);
    summary.pages++;
    for (const item of page.items) {
      summary.items++;
      const at = Date.parse(item.updatedAt);
      if (!Number.isNaN(at)) newest = Math.max(newest, at);
      const meta = await ctx.referrals.get(item.externalReference);
      if (!meta || meta.partner !== 'CHARITY') {
        summary.unknown++;
        // Ids only: the charity's id and the reference it was given.
        ctx.logger.warn(
          { alert: true, partner: 'CHARITY', charityId: item.id.slice(0, 100) },
          'charity holds a referral the bridge does not know',
        );
        continue;
      }
      const result = await applyCharityUpdate(
        ctx,
        meta.referralId,
        { charityId: item.id, status: item.status, statusReason: item.statusReason, at: item.updatedAt },
        'charity-poll',
      );
      summary[result]++;
      if (result === 'busy' && !Number.isNaN(at)) oldestBusy = Math.min(oldestBusy, at);
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && summary.pages < MAX_PAGES);

  // Advance only past what was applied: a busy item is read again next round. Never past our own
  // clock either: one item stamped in the future (a charity clock error) must not hide the rest.
  const next = Math.min(Math.min(newest, now.getTime()) - WATERMARK_OVERLAP_MS, oldestBusy - 1);
  if (next > Date.parse(since)) {
    summary.watermark = new Date(next).toISOString();
    await ctx.redis.set(key, summary.watermark);
  }
  return summary;
}

async function listPage(
  ctx: BridgeContext,
  since: string,
  cursor: string | undefined,
  correlationId: string,
): ReturnType<BridgeContext['partners']['charity']['listUpdated']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.partners.charity.listUpdated(since, cursor, ctx.config.charity.pollPageLimit, { correlationId });
    } catch (err) {
      if (!(err instanceof PartnerError) || err.kind !== 'transient' || attempt >= PAGE_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, Math.min(MAX_PAGE_WAIT_MS, Math.max(err.retryAfterMs ?? 0, 250 * attempt))));
    }
  }
}

/** First round: from the oldest referral the charity may hold, or from now if there is none. */
async function initialWatermark(ctx: BridgeContext, now: Date): Promise<string> {
  let oldest = now.getTime() - WATERMARK_OVERLAP_MS;
  for (const id of await ctx.referrals.activeIds('CHARITY')) {
    const created = Date.parse((await ctx.referrals.get(id))?.createdAt ?? '');
    if (!Number.isNaN(created)) oldest = Math.min(oldest, created - WATERMARK_OVERLAP_MS);
  }
  return new Date(oldest).toISOString();
}
