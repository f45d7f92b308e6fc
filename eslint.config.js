import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'coverage/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {globals: {process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly', URL: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', fetch: 'readonly'}},
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
    },
  },
  // The shape the architecture keeps (docs/ARCHITECTURE.md): small files, and types that hold
  // without double casts outside the driver SDK (where driver data meets the record).
  {
    files: ['src/**/*.ts', 'drivers/**/*.ts', 'commands/**/*.ts'],
    rules: {'max-lines': ['error', {max: 400, skipBlankLines: true, skipComments: true}]},
  },
  {
    files: ['src/**/*.ts', 'drivers/**/*.ts', 'commands/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/sdk/**'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "TSAsExpression[expression.type='TSAsExpression'][expression.typeAnnotation.type='TSUnknownKeyword']",
        message: 'no `as unknown as` outside src/sdk: type the value (Driver<Data>, a zod schema, a guard) instead',
      }],
    },
  },
)
