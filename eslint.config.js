// ESLint flat config. Workflow code runs in Temporal's deterministic sandbox: it may not import
// Node built-ins, I/O libraries or loggers, and may not read the wall clock or randomness.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Every built-in Node knows (fs, buffer, async_hooks, timers/promises, …), in both spellings: a hand
// list misses some. `node:`-only modules (node:test, node:sqlite) are listed with their prefix.
const nodeBuiltins = [
  ...new Set(builtinModules.flatMap((m) => (m.startsWith('node:') ? [m] : [m, `node:${m}`]))),
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'output/**', '.durabatch/**', 'test-artifacts/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'src/codec/*.cjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Workflow code is deterministic: do I/O in an activity.',
            })),
            { name: 'pino', message: "Workflows log only through @temporalio/workflow's `log`." },
            {
              name: '@temporalio/activity',
              message: 'Workflows import activity types only (import type).',
              allowTypeImports: true,
            },
            { name: '@temporalio/client', message: 'Workflows cannot use the client.' },
            { name: '@temporalio/worker', message: 'Workflows cannot use the worker.' },
          ],
          patterns: [
            {
              group: ['../src/*', '../activities/*'],
              message: 'Only type imports from outside workflows/.',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use uuid4() from @temporalio/workflow if needed.' },
        { object: 'Date', property: 'now', message: 'Use workflowNow() from workflows/clock.ts.' },
      ],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'process', 'require'],
    },
  },
  {
    // Layers point one way: activities build on src/, never the reverse. What both need (output
    // paths, module loading) lives in src/. The worker, which registers the activities, is the exception.
    files: ['src/**/*.ts'],
    ignores: ['src/worker/worker.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              message: 'src/ does not import from activities/: move what both need into src/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/clock.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The batch console: plain ES modules run by the browser (no build step).
    files: ['src/api/console/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'AbortController',
          'clearTimeout',
          'confirm',
          'console',
          'document',
          'Element',
          'fetch',
          'FormData',
          'location',
          'requestAnimationFrame',
          'sessionStorage',
          'setTimeout',
          'TextDecoderStream',
          'URL',
          'URLSearchParams',
          'window',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // bin/ is plain JavaScript run by Node (the CLI's launcher and its build).
    files: ['bin/**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', URL: 'readonly', performance: 'readonly', console: 'readonly' },
    },
  },
);
