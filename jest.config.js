import { createDefaultEsmPreset } from 'ts-jest'

// Tests only: the AWS SDK warns once per module instance that it will require Node >= 22,
// i.e. once per test file and child process on Node 20. Set here, in jest's own process,
// so the workers and every child process they spawn inherit it. Users still see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** @type {import('jest').Config} */
export default {
  ...createDefaultEsmPreset({ tsconfig: 'tsconfig.json' }),
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // examples import the package by name, as users do
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1', '^middy-cleanup$': '<rootDir>/src/index.ts' },
  testTimeout: 30000,
  // A new worker process for every test file: what a test counts of its process (open
  // descriptors, sockets, ref'd handles, listeners) must not move because an earlier file in
  // the same worker left a keep-alive socket that its server closes meanwhile (it did on CI:
  // leak findings one short). Each file is a cold start, as the package sees one on Lambda.
  workerIdleMemoryLimit: '1MB',
  setupFiles: ['<rootDir>/__tests__/support/realm.mjs', '<rootDir>/__tests__/support/fresh-process.mjs'],
  // real S3 + DynamoDB servers (embedded always, moto_server when on PATH), endpoints passed to workers via env
  globalSetup: '<rootDir>/__tests__/support/global-setup.mjs',
  globalTeardown: '<rootDir>/__tests__/support/global-teardown.mjs',
}
