import { createDefaultEsmPreset } from 'ts-jest'

/** @type {import('jest').Config} */
export default {
  ...createDefaultEsmPreset({ tsconfig: 'tsconfig.json' }),
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // examples import the package by name, as users do
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1', '^middy-cleanup$': '<rootDir>/src/index.ts' },
  testTimeout: 30000,
  setupFiles: ['<rootDir>/__tests__/support/realm.mjs'],
  // real S3 + DynamoDB servers (embedded always, moto_server when on PATH), endpoints passed to workers via env
  globalSetup: '<rootDir>/__tests__/support/global-setup.mjs',
  globalTeardown: '<rootDir>/__tests__/support/global-teardown.mjs',
}
