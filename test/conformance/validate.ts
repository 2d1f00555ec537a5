import { validateResource } from '@medplum/core';
import type { Bundle, CodeSystem, Coding, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fhirXmlToJson } from './fhir-xml';
import { STANDARDS_DIR, type PublishedDefinitions } from './published';

/**
 * Checks one message the way a receiver holding the published definitions would: the Bundle
 * and each resource against the profile its MessageDefinition requires (Medplum's validator
 * over the generated snapshots), every bundle-local reference resolving to an entry of a type
 * the element allows, and every coding under a published CodeSystem using one of its codes.
 */
export interface MessageDefinitionFocus {
  code: string;
  profile: string;
  min: number;
  max: string;
}

export async function loadMessageDefinition(file: string): Promise<{ url: string; focus: MessageDefinitionFocus[] }> {
  const md = (await fhirXmlToJson(readFileSync(join(STANDARDS_DIR, 'bars', 'MessageDefinition', file), 'utf8'))) as {
    url: string;
    focus: MessageDefinitionFocus[];
  };
  return { url: md.url, focus: md.focus };
}

const R4_BASE = 'http://hl7.org/fhir/StructureDefinition/';

/** Errors of one resource against a profile (a published one, or base R4 where the definition names it). */
export function conformanceErrors(resource: Resource, profileUrl: string | undefined, defs: PublishedDefinitions): string[] {
  return profileErrors(resource, profileUrl, issuesOf(resource, profileUrl, defs), defs);
}

function issuesOf(resource: Resource, profileUrl: string | undefined, defs: PublishedDefinitions): OperationOutcomeIssue[] | string {
  const profile = profileUrl ? defs.profiles.get(profileUrl) : undefined;
  if (!profile && !profileUrl?.startsWith(R4_BASE)) return `no published profile ${profileUrl ?? ''} for ${resource.resourceType}`;
  try {
    return profile ? validateResource(resource, { profile }) : validateResource(resource);
  } catch (err) {
    return (err as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome?.issue ?? String(err);
  }
}

function profileErrors(
  resource: Resource,
  profileUrl: string | undefined,
  issues: OperationOutcomeIssue[] | string,
  defs: PublishedDefinitions,
): string[] {
  if (typeof issues === 'string') return [issues];
  const name = (profileUrl && defs.profiles.get(profileUrl)?.name) ?? profileUrl?.slice(R4_BASE.length);
  return issues
    .filter((i) => i.severity === 'error' && !isBundleLocalReference(i))
    .map((i) => `${name}: ${i.details?.text ?? i.code} @ ${i.expression?.join(',') ?? ''}`)
    .concat(codingErrors(resource, defs.codeSystems));
}

/** Medplum cannot resolve urn:uuid references; `referenceErrors` checks those against the Bundle. */
function isBundleLocalReference(issue: OperationOutcomeIssue): boolean {
  return /^Invalid reference: got "urn:uuid:/.test(issue.details?.text ?? '');
}

export function messageErrors(
  bundle: Bundle,
  definition: { url: string; focus: MessageDefinitionFocus[] },
  defs: PublishedDefinitions,
): string[] {
  const errors: string[] = [];
  const header = bundle.entry?.[0]?.resource;
  if (header?.resourceType !== 'MessageHeader') return ['the first entry is not a MessageHeader'];
  if (header.definition !== definition.url) errors.push(`MessageHeader.definition ${header.definition} is not ${definition.url}`);
  const profileFor = (r: Resource) => {
    const allowed = definition.focus.filter((f) => f.code === r.resourceType);
    return (allowed.find((f) => r.meta?.profile?.includes(f.profile)) ?? allowed[allowed.length - 1])?.profile;
  };
  // The Bundle's own check covers its shape; each entry is then checked against its own profile.
  const bundleShape = {
    ...bundle,
    entry: (bundle.entry ?? []).map((e, i) =>
      i === 0 ? e : { fullUrl: e.fullUrl, resource: { resourceType: 'Basic', code: { text: 'entry' } } as Resource },
    ),
  };
  errors.push(
    ...profileErrors(bundle, profileFor(bundle), issuesOf(bundleShape as Bundle, profileFor(bundle), defs), defs).map(
      (e) => `Bundle: ${e}`,
    ),
  );
  const byUrl = new Map((bundle.entry ?? []).map((e) => [e.fullUrl, e.resource]));
  for (const [index, entry] of (bundle.entry ?? []).entries()) {
    const r = entry.resource!;
    if (!definition.focus.some((f) => f.code === r.resourceType)) {
      errors.push(`entry ${index}: ${r.resourceType} is not in ${definition.url}`);
      continue;
    }
    const issues = issuesOf(r, profileFor(r), defs);
    errors.push(...profileErrors(r, profileFor(r), issues, defs).map((e) => `entry ${index} ${r.resourceType}: ${e}`));
    errors.push(
      ...referenceErrors(r, typeof issues === 'string' ? [] : issues, byUrl, defs).map((e) => `entry ${index} ${r.resourceType}: ${e}`),
    );
  }
  return errors;
}

/** The resource types of the definition's focus whose minimum this message does not meet. */
export function unmetMinimums(bundle: Bundle, definition: { focus: MessageDefinitionFocus[] }): string[] {
  const count = (code: string) => (bundle.entry ?? []).filter((e) => e.resource?.resourceType === code).length;
  const byType = new Map<string, number>();
  for (const f of definition.focus) byType.set(f.code, Math.max(byType.get(f.code) ?? 0, f.min));
  return [...byType]
    .filter(([code, min]) => code !== 'Bundle' && count(code) < min)
    .map(([code]) => code)
    .sort();
}

/** Every urn:uuid reference names an entry, of a type the referencing element's targetProfile allows. */
function referenceErrors(
  r: Resource,
  issues: OperationOutcomeIssue[],
  byUrl: Map<string | undefined, Resource | undefined>,
  defs: PublishedDefinitions,
): string[] {
  const errors: string[] = [];
  for (const { ref } of references(r)) if (!byUrl.has(ref)) errors.push(`reference ${ref} names no entry`);
  for (const issue of issues.filter(isBundleLocalReference)) {
    const match = /got "([^"]+)", expected (.*)$/.exec(issue.details!.text!);
    const target = match && byUrl.get(match[1]!);
    if (!target) continue;
    const allowed = [...match![2]!.matchAll(/"([^"]+)"/g)].map((m) => typeOfProfile(m[1]!, defs));
    if (!allowed.includes(target.resourceType))
      errors.push(`${issue.expression?.join(',')} → ${target.resourceType}, allowed ${allowed.join('|')}`);
  }
  return errors;
}

function typeOfProfile(url: string, defs: PublishedDefinitions): string {
  return (
    defs.profiles.get(url)?.type ??
    url
      .split('/')
      .pop()!
      .replace(/^UKCore-/, '')
  );
}

function* references(value: unknown, path = ''): Generator<{ ref: string; path: string }> {
  if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* references(v, `${path}[${i}]`);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string' && v.startsWith('urn:uuid:')) yield { ref: v, path };
      else yield* references(v, `${path}.${k}`);
    }
  }
}

/** A coding under a published CodeSystem (content complete) must use one of its codes, with its display. */
export function codingErrors(resource: unknown, codeSystems: Map<string, CodeSystem>): string[] {
  const errors: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!value || typeof value !== 'object') return;
    const coding = value as Coding;
    const system = typeof coding.system === 'string' ? codeSystems.get(coding.system) : undefined;
    if (system && typeof coding.code === 'string') {
      const concept = system.concept?.find((c) => c.code === coding.code);
      if (!concept) errors.push(`${path}: ${coding.code} is not a code of ${system.url}`);
      else if (coding.display !== undefined && concept.display !== undefined && coding.display !== concept.display) {
        errors.push(`${path}: display "${coding.display}" is not "${concept.display}" for ${system.url}|${coding.code}`);
      }
    }
    for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
  };
  walk(resource, (resource as Resource).resourceType ?? '');
  return errors;
}
