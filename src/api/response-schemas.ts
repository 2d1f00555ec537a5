import Joi from 'joi';
import { STATUS_ORDER } from '../domain/lifecycle';

/**
 * The JSON the operator routes answer, as Joi schemas: the OpenAPI description is built from them
 * (joi-to-json), and the tests validate real answers against them, so neither can drift.
 */
const status = Joi.string().valid(...STATUS_ORDER);
const partner = Joi.string().valid('NHS', 'CHARITY');
const time = Joi.string().isoDate();

const timelineEntry = Joi.object({
  seq: Joi.number().integer().required(),
  at: time.required(),
  status: status.required(),
  from: status,
  source: Joi.string().required(),
  detail: Joi.string(),
});

const referralSummary = Joi.object({
  referralId: Joi.string().guid().required(),
  type: Joi.string().valid('CLINICAL', 'ADVOCACY').required(),
  partner: partner.required(),
  crimeReference: Joi.string().required(),
  recordVersion: Joi.number().integer().required(),
  status: status.required(),
  heldReason: Joi.string(),
  partnerStatus: Joi.string(),
  lastError: Joi.string(),
  createdAt: time.required(),
  updatedAt: time.required(),
});

const quarantineEntry = Joi.object({
  id: Joi.string().hex().length(32).required(),
  crimeReference: Joi.string(),
  recordVersion: Joi.number().integer(),
  reason: Joi.string().required().description('names the field and the rule, never the value'),
  source: Joi.string().required(),
  at: time.required(),
});

/** A service-level finding about one referral: when its clock started and when it was due. */
const finding = Joi.object({
  referralId: Joi.string().required(),
  crimeReference: Joi.string().required(),
  clockStart: time.required(),
  deadline: time.required(),
});

const breach = finding.keys({
  kind: Joi.string().valid('victims-code-breach').required(),
  sentAt: time.allow(null).required(),
  open: Joi.boolean(),
});

const clinicalOverdue = finding.keys({ kind: Joi.string().valid('clinical-overdue').required(), status: status.required() });

const deadLetterSummary = Joi.object({
  id: Joi.string().required(),
  queue: Joi.string().required(),
  jobId: Joi.string().required(),
  jobName: Joi.string().required(),
  partner: Joi.string().valid('NHS', 'CHARITY', 'POLICE', 'BRIDGE').required(),
  errorKind: Joi.string().valid('transient', 'permanent', 'auth').required(),
  reason: Joi.string().required(),
  attempts: Joi.number().integer().required(),
  failedAt: time.required(),
  referralId: Joi.string(),
  crimeReference: Joi.string(),
  correlationId: Joi.string(),
});

const redriveResult = Joi.alternatives(
  Joi.object({ id: Joi.string().required(), outcome: Joi.string().valid('redriven').required(), newJobId: Joi.string().required() }),
  Joi.object({
    id: Joi.string().required(),
    outcome: Joi.string().valid('refused').required(),
    why: Joi.string().required(),
    notFound: Joi.boolean(),
  }),
);

const reconciliationReport = Joi.object({
  generatedAt: time.required(),
  counts: Joi.object().pattern(partner, Joi.object().pattern(status, Joi.number().integer())).required(),
  discrepancies: Joi.array()
    .items(
      Joi.object({
        class: Joi.string().required(),
        partner: Joi.string().valid('NHS', 'CHARITY', 'POLICE').required(),
        referralId: Joi.string(),
        crimeReference: Joi.string(),
        partnerRef: Joi.string(),
        bridgeStatus: status,
        partnerStatus: Joi.string(),
        action: Joi.string().required(),
        note: Joi.string(),
      }),
    )
    .required(),
  serviceLevels: Joi.object({
    breaches: Joi.array().items(breach).required(),
    breachCounts: Joi.object({ open: Joi.number().integer().required(), closedLate: Joi.number().integer().required() }),
    overdue: Joi.array().items(clinicalOverdue).required(),
  }).required(),
  pendingWriteBacks: Joi.number().integer().required(),
  unreachable: Joi.array()
    .items(Joi.object({ partner: partner.required(), detail: Joi.string().required() }))
    .required(),
});

export const RESPONSE_SCHEMAS: Readonly<Record<string, Joi.Schema>> = {
  'GET /v1/referrals': Joi.object({ items: Joi.array().items(referralSummary).required(), nextCursor: Joi.string() }),
  'GET /v1/crimes/{crimeReference}': Joi.object({
    crimeReference: Joi.string().required(),
    appliedVersion: Joi.number().integer(),
    versionsSeen: Joi.array().items(Joi.number().integer()).required(),
    referrals: Joi.array()
      .items(
        referralSummary.keys({
          timeline: Joi.array().items(timelineEntry).required(),
          writeBacksPending: Joi.number().integer().required(),
        }),
      )
      .required(),
    quarantine: Joi.array().items(quarantineEntry).required(),
    story: Joi.array()
      .items(timelineEntry.keys({ referralId: Joi.string().guid().required(), partner: partner.required() }))
      .required(),
  }),
  'GET /v1/quarantine': Joi.object({ items: Joi.array().items(quarantineEntry).required(), total: Joi.number().integer().required() }),
  'GET /v1/quarantine/{id}': quarantineEntry.keys({
    record: Joi.any().description('the record as received: admin, include=personal, audited'),
  }),
  'POST /v1/quarantine/{id}/discard': Joi.object({ id: Joi.string().required(), outcome: Joi.string().valid('discarded').required() }),
  'GET /v1/service-levels': Joi.object({
    generatedAt: time,
    open: Joi.array().items(breach).required(),
    closedLate: Joi.array().items(breach).required(),
    clinicalOverdue: Joi.array().items(clinicalOverdue).required(),
  }),
  'GET /v1/dead-letters': Joi.object({ items: Joi.array().items(deadLetterSummary).required(), truncated: Joi.boolean().required() }),
  'GET /v1/dead-letters/{id}': deadLetterSummary.keys({
    referral: Joi.object({
      status: status.required(),
      partnerRef: Joi.string(),
      lastError: Joi.string(),
      timeline: Joi.array().items(timelineEntry).required(),
    }),
    redrive: Joi.alternatives(
      Joi.object({ possible: Joi.boolean().valid(true).required() }),
      Joi.object({ possible: Joi.boolean().valid(false).required(), why: Joi.string().required() }),
    ).required(),
    discarded: Joi.object({ at: time.required(), by: Joi.string().required() }),
    discardReason: Joi.string().description('admin, include=personal'),
    personalData: Joi.object().unknown(true).description('admin, include=personal, audited'),
    partnerText: Joi.string().description('admin, include=personal, audited'),
  }),
  'POST /v1/dead-letters/{id}/redrive': redriveResult,
  'POST /v1/dead-letters/redrive': Joi.object({ results: Joi.array().items(redriveResult).required() }),
  'POST /v1/dead-letters/{id}/discard': Joi.object({
    id: Joi.string().required(),
    outcome: Joi.string().valid('discarded').required(),
    reason: Joi.string().required(),
  }),
  'GET /v1/reconciliation': reconciliationReport,
  'POST /v1/reconciliation': reconciliationReport,
  'GET /health/ready': Joi.object({
    status: Joi.string().valid('ready', 'not-ready').required(),
    checks: Joi.object({ redis: Joi.string().valid('ok', 'refusing-writes', 'unreachable').required() }).required(),
    reason: Joi.string(),
  }),
  'GET /v1/audit': Joi.object({
    events: Joi.array()
      .items(
        Joi.object({
          id: Joi.string().required(),
          at: time.required(),
          actor: Joi.string().required(),
          action: Joi.string().required(),
          referralId: Joi.string(),
          crimeReference: Joi.string(),
          partner: Joi.string(),
          status: Joi.string(),
          outcome: Joi.string(),
          target: Joi.string(),
          rejected: Joi.array().items(Joi.string()),
        }),
      )
      .required(),
  }),
  'GET /v1/referrals/{id}': referralSummary.keys({
    partnerReference: Joi.string(),
    timeline: Joi.array()
      .items(timelineEntry.keys({ seq: Joi.forbidden() }))
      .required(),
    partnerText: Joi.string().description('admin, include=personal, audited'),
  }),
};
