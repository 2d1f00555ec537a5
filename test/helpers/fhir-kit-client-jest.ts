import fs from 'fs';
import path from 'path';
import ts from 'typescript';

/**
 * fhir-kit-client 2.x ships ESM only (package.json exports just an "import" condition), and the
 * project's jest runs CommonJS and transforms only .ts, so jest can neither resolve nor run it.
 * This module *is* the real package, its source transpiled to CommonJS and run in the test's
 * realm — which matters: nock patches that realm's fetch, and the client must use it. Use it
 * per test file:
 *
 *   jest.mock('fhir-kit-client', () => jest.requireActual('../helpers/fhir-kit-client-jest'), { virtual: true });
 *
 * or for every suite with jest.config `moduleNameMapper: { '^fhir-kit-client$': '<rootDir>/test/helpers/fhir-kit-client-jest.ts' }`.
 */
function loadFhirKitClient(): Record<string, unknown> {
  const dist = path.resolve(__dirname, '../../node_modules/fhir-kit-client/dist');
  const modules = new Map<string, { exports: Record<string, unknown> }>();
  const load = (file: string): Record<string, unknown> => {
    const loaded = modules.get(file);
    if (loaded) return loaded.exports;
    const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file,
    });
    const mod = { exports: {} as Record<string, unknown> };
    modules.set(file, mod);
    const localRequire = (specifier: string): unknown =>
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS loader for an ESM-only package
      specifier.startsWith('.') ? load(path.resolve(path.dirname(file), specifier)) : require(specifier);
    new Function('exports', 'require', 'module', '__filename', '__dirname', outputText)(
      mod.exports,
      localRequire,
      mod,
      file,
      path.dirname(file),
    );
    return mod.exports;
  };
  return load(path.join(dist, 'index.js'));
}

export = loadFhirKitClient();
