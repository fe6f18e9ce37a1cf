// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', '.vscode-test/**', 'test-results/**', 'webview-ui/dist/**', '*.vsix'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', performance: 'readonly', setImmediate: 'readonly', structuredClone: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // src/core is pure logic shared by the sidecar and the extension: it must run in plain Node.
    files: ['src/core/**/*.ts', 'src/sidecar/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'src/core and src/sidecar must not import vscode; put host code in src/extension.' }],
        patterns: [{ group: ['**/extension/**'], message: 'src/core and src/sidecar must not depend on the extension.' }],
      }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'src/core must not import vscode; put host code in src/extension.' }],
        patterns: [
          { group: ['**/extension/**', '**/sidecar/**'], message: 'src/core is the bottom layer.' },
          { group: ['@modelcontextprotocol/*'], message: 'Keep MCP SDK imports in src/sidecar.' },
        ],
      }],
    },
  },
  {
    // The extension speaks to the sidecar over MCP only: of src/sidecar it may import the protocol, for types.
    files: ['src/extension/**/*.ts'],
    ignores: ['src/extension/sidecarClient/client.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [],
        patterns: [
          { group: ['**/sidecar/**', '!**/sidecar/protocol', '!**/sidecar/protocol/**'], message: 'src/extension may import only src/sidecar/protocol (types) from the sidecar; call tools through SidecarClient.' },
          { group: ['**/sidecar/protocol', '**/sidecar/protocol/**'], allowTypeImports: true, message: 'src/extension imports the protocol for types only (SidecarClient checks results against the schemas).' },
        ],
      }],
    },
  },
  {
    // The client checks results against the protocol's schemas, so it alone imports the protocol's values.
    files: ['src/extension/sidecarClient/client.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: ['**/sidecar/**', '!**/sidecar/protocol', '!**/sidecar/protocol/**'], message: 'src/extension may import only src/sidecar/protocol from the sidecar.' }],
      }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
