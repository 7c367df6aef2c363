// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const noFocusedOrSkippedTests = [
  { selector: "CallExpression[callee.property.name='only']", message: 'no focused tests' },
  { selector: "CallExpression[callee.property.name='skip']", message: 'no skipped tests' },
];

/**
 * The import direction: cli → kernel / guest / signature → registry → oci. A room may import only
 * rooms to its right (and src/errors.ts): `files` may not reach `rooms`, by static or dynamic import.
 */
/** @param {string} room @param {string[]} files @param {string[]} rooms */
function importDirection(room, files, rooms) {
  const source = `^(\\.\\./)+(${rooms.join('|')})/`;
  const message = `${room} may not import ${rooms.join(', ')}: imports point cli → kernel/guest/signature → registry → oci (docs/ARCHITECTURE.md)`;
  return {
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: source, message }] }],
      'no-restricted-syntax': [
        'error',
        ...noFocusedOrSkippedTests,
        { selector: `ImportExpression[source.value=/${source.replaceAll('/', '\\/')}/]`, message },
      ],
    },
  };
}

export default tseslint.config(
  {
    ignores: ['node_modules/', '.toolchain/', '.cache/', 'coverage/', 'dist/', 'demo-kernel/', 'demo-store/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', ...noFocusedOrSkippedTests],
    },
  },
  importDirection('src/oci', ['src/oci/**/*.ts'], ['registry', 'kernel', 'guest', 'signature', 'cli']),
  importDirection('src/registry', ['src/registry/**/*.ts'], ['kernel', 'guest', 'signature', 'cli']),
  importDirection(
    'src/kernel, src/guest and src/signature',
    ['src/kernel/**/*.ts', 'src/guest/**/*.ts', 'src/signature/**/*.ts'],
    ['cli'],
  ),
);
