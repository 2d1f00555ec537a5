import type { ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

/**
 * A snapshot for a differential-only StructureDefinition: the base's snapshot with each
 * differential element merged in, complex types unfolded where the differential reaches into
 * them, and slices inserted after their sliced element. The published BaRS and UK Core
 * definitions ship without snapshots and the usual generators fetch packages from the FHIR
 * registry, which this machine cannot reach; this covers what those differentials use
 * (cardinality, fixed/pattern values, types and target profiles, bindings, slices). Test-only.
 */
export type ResolveDefinition = (url: string) => StructureDefinition | undefined;

export function generateSnapshot(sd: StructureDefinition, resolve: ResolveDefinition): StructureDefinition {
  const base = sd.baseDefinition ? resolve(sd.baseDefinition) : undefined;
  if (!base?.snapshot?.element) throw new Error(`${sd.url}: base ${sd.baseDefinition} has no snapshot`);
  const elements: ElementDefinition[] = structuredClone(base.snapshot.element);
  for (const diff of sd.differential?.element ?? []) {
    const id = diff.id ?? diff.path;
    const index = ensureElement(elements, id, diff, resolve);
    const { id: _id, path: _path, ...constraints } = diff;
    const target = elements[index]!;
    for (const [key, value] of Object.entries(constraints)) {
      if (key === 'constraint') target.constraint = [...(target.constraint ?? []), ...(value as ElementDefinition['constraint'] & object)];
      else (target as unknown as Record<string, unknown>)[key] = structuredClone(value);
    }
  }
  return { ...sd, snapshot: { element: elements } };
}

function ensureElement(elements: ElementDefinition[], id: string, diff: ElementDefinition, resolve: ResolveDefinition): number {
  const found = elements.findIndex((e) => e.id === id);
  if (found >= 0) return found;
  const lastDot = id.lastIndexOf('.');
  const lastColon = id.lastIndexOf(':');
  if (lastColon > lastDot) {
    // A new slice: a copy of the sliced element, after everything already under it.
    const slicedId = id.slice(0, lastColon);
    const sliced = ensureElement(elements, slicedId, { path: diff.path }, resolve);
    // Extensions are sliced by url without saying so (R4 profiling.html#slicing).
    if (!elements[sliced]!.slicing && /\.(modifierE|e)xtension$/.test(elements[sliced]!.path!)) {
      elements[sliced]!.slicing = { discriminator: [{ type: 'value', path: 'url' }], rules: 'open' };
    }
    const end = endOfGroup(elements, sliced);
    const { slicing: _slicing, ...copy } = structuredClone(elements[sliced]!);
    elements.splice(end + 1, 0, { ...copy, id, path: elements[sliced]!.path, sliceName: diff.sliceName ?? id.slice(lastColon + 1) });
    return end + 1;
  }
  // A child of an element whose type the base does not unfold: unfold that type's elements.
  const parentId = id.slice(0, lastDot);
  const parentIndex = ensureElement(elements, parentId, { path: diff.path.slice(0, diff.path.lastIndexOf('.')) }, resolve);
  const parent = elements[parentIndex]!;
  const codes = (parent.type ?? []).map((t) => t.code).filter((c): c is string => Boolean(c));
  // A choice reaches into its complex type (event[x].system is Coding's), a primitive into its extensions.
  const typeCode = codes.find((c) => /^[A-Z]/.test(c)) ?? codes[0];
  const typeDef = typeCode ? resolve(`http://hl7.org/fhir/StructureDefinition/${typeCode}`) : undefined;
  if (!typeDef?.snapshot?.element) throw new Error(`cannot unfold ${parentId} (type ${typeCode ?? 'none'}) to reach ${id}`);
  const children = typeDef.snapshot.element
    .slice(1)
    .filter((e) => !(/^[a-z]/.test(typeCode!) && e.path === `${typeCode}.value`))
    .map((e) => ({
      ...structuredClone(e),
      id: `${parentId}${e.id!.slice(typeCode!.length)}`,
      path: `${parent.path}${e.path!.slice(typeCode!.length)}`,
    }));
  elements.splice(parentIndex + 1, 0, ...children);
  const index = elements.findIndex((e) => e.id === id);
  if (index < 0) throw new Error(`${id} is not an element of ${typeCode}`);
  return index;
}

/** The last index of the element's own children and slices. */
function endOfGroup(elements: ElementDefinition[], index: number): number {
  const id = elements[index]!.id!;
  let end = index;
  while (end + 1 < elements.length && (elements[end + 1]!.id!.startsWith(`${id}.`) || elements[end + 1]!.id!.startsWith(`${id}:`)))
    end += 1;
  return end;
}
