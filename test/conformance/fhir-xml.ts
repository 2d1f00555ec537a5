import { getDataType } from '@medplum/core';
import { parseStringPromise } from 'xml2js';

/**
 * FHIR XML → FHIR JSON, driven by the R4 type definitions Medplum has indexed: they say which
 * elements repeat, which are choice types and which primitives are JSON numbers or booleans.
 * Enough for the published StructureDefinitions, CodeSystems and examples; test-only.
 */
type XmlNode = { $?: Record<string, string>; $$?: XmlElement[]; _?: string };
type XmlElement = XmlNode & { '#name': string };

const NUMBERS = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal', 'integer64']);

export async function fhirXmlToJson(xml: string): Promise<Record<string, unknown>> {
  const doc = await parseStringPromise(xml, { explicitChildren: true, preserveChildrenOrder: true, explicitArray: true, charkey: '_' });
  const [rootName] = Object.keys(doc);
  const root = doc[rootName!] as XmlNode;
  return { resourceType: rootName, ...convertComplex(root, rootName!) };
}

function convertComplex(node: XmlNode, typeName: string): Record<string, unknown> {
  const schema = getDataType(typeName);
  const out: Record<string, unknown> = {};
  if (node.$?.url !== undefined) out.url = node.$.url;
  if (node.$?.id !== undefined && typeName !== 'Resource') out.id = node.$.id;
  for (const child of node.$$ ?? []) {
    const name = child['#name'];
    if (name === 'div') {
      out.div = '<div xmlns="http://www.w3.org/1999/xhtml"></div>';
      continue;
    }
    const { key, type, isArray } = resolveElement(schema.elements, name, typeName);
    const value = convertValue(child, type);
    if (isArray) {
      out[key] ??= [];
      (out[key] as unknown[]).push(value);
    } else out[key] = value;
  }
  return out;
}

function convertValue(node: XmlElement, type: string): unknown {
  if (type === 'Resource') {
    const inner = node.$$?.[0];
    if (!inner) throw new Error('empty resource container');
    return { resourceType: inner['#name'], ...convertComplex(inner, inner['#name']) };
  }
  if (/^[a-z]/.test(type)) {
    const raw = node.$?.value ?? '';
    if (type === 'boolean') return raw === 'true';
    if (NUMBERS.has(type)) return Number(raw);
    return raw;
  }
  return convertComplex(node, type);
}

function resolveElement(
  elements: Record<string, { type: { code: string }[]; isArray?: boolean; max?: number }>,
  name: string,
  typeName: string,
) {
  const direct = elements[name];
  if (direct) return { key: name, type: direct.type[0]!.code, isArray: Boolean(direct.isArray ?? (direct.max ?? 1) > 1) };
  for (const [key, element] of Object.entries(elements)) {
    if (!key.endsWith('[x]')) continue;
    const base = key.slice(0, -3);
    if (!name.startsWith(base)) continue;
    const suffix = name.slice(base.length);
    const type = element.type.find((t) => t.code.toLowerCase() === suffix.toLowerCase());
    if (type) return { key: name, type: type.code, isArray: false };
  }
  throw new Error(`${typeName} has no element ${name}`);
}
