/**
 * The shape of src/, checked by `npm test` (npm run lint:imports): no import circle, type imports
 * included, and the boundaries the README's folder table describes.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'An import circle, type imports included.', from: {}, to: { circular: true } },
    {
      name: 'pure-domain-and-mappings',
      severity: 'error',
      comment: 'domain/ and mappings/ are pure: nothing with I/O, no partner client, store, queue or HTTP.',
      from: { path: '^src/(domain|mappings)/' },
      to: { pathNot: '^src/(domain|mappings)/|^package\\.json$|node_modules/|^@medplum/fhirtypes$', dependencyTypesNot: ['core'] },
    },
    {
      name: 'pure-domain-and-mappings-packages',
      severity: 'error',
      comment: 'domain/ and mappings/ use no I/O package.',
      from: { path: '^src/(domain|mappings)/' },
      to: {
        path: 'node_modules/(ioredis|bullmq|@hapi|fhir-kit-client|pino|node-cron|nock)/|^(node:)?(http|https|net|tls|fs|child_process|worker_threads)$',
      },
    },
    {
      name: 'only-the-cli-starts-the-app',
      severity: 'error',
      comment: 'app.ts wires the process; only the CLI imports it.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/app\\.ts$' },
    },
    { name: 'src-never-imports-simulators', severity: 'error', from: { path: '^src/' }, to: { path: '^(simulators|test|bench)/' } },
    {
      name: 'infra-below-everything',
      severity: 'error',
      comment: 'infra.ts imports nothing of the pipeline or above.',
      from: { path: '^src/infra\\.ts$' },
      to: { path: '^src/(pipeline|api|cli|reconcile|operations|observability)/|^src/(app|context)\\.ts$' },
    },
    {
      name: 'queues-are-plumbing',
      severity: 'error',
      comment: 'queues/ holds topology and worker plumbing; the business flow is in pipeline/.',
      from: { path: '^src/queues/' },
      to: { path: '^src/(pipeline|api|cli|reconcile|operations)/|^src/(app|context)\\.ts$' },
    },
    {
      name: 'pipeline-below-api',
      severity: 'error',
      comment: 'The pipeline is driven by api/, cli/ and reconcile/, never the other way.',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/(api|cli|reconcile|operations)/|^src/app\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    combinedDependencies: false,
  },
};
