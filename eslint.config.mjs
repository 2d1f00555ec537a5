// Lint for the whole repository; `npm test` runs it. The import shape (no circle, type imports
// included; the folder boundaries) is dependency-cruiser's job: see .dependency-cruiser.cjs.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.demo/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'import-x/no-duplicates': 'error',
      'import-x/first': 'error',
    },
  },
  // The installed entry point is plain CommonJS.
  { files: ['bin/**/*.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
