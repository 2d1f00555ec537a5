/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type checking is done once by `tsc --noEmit` in `npm test`; ts-jest only transpiles.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  // fhir-kit-client 2.x is ESM-only; jest (without experimental VM modules) loads it through a
  // CommonJS shim of the real package source, so nock still sees its requests.
  moduleNameMapper: { '^fhir-kit-client$': '<rootDir>/test/helpers/fhir-kit-client-jest.ts' },
  testTimeout: 30000,
  // Integration suites share one Redis; a small worker count keeps a 2-core machine responsive.
  maxWorkers: 2,
};
