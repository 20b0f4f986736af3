// The README's quick start is examples/quick-start.ts verbatim, which tsc type-checks
// in CI: a README snippet that no longer compiles fails here.
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('README', () => {
  it('starts with the two commands a new user types: the demo and the tests', () => {
    const firstBlock = readme.slice(0, readme.indexOf('```', readme.indexOf('```') + 3))
    expect(firstBlock).toContain('npm install && npm run demo')
    expect(firstBlock).toContain('npm test')
  })

  it('quick start is examples/quick-start.ts (type-checked) word for word', () => {
    const quickStart = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)
    expect(quickStart).not.toBeNull()
    expect(quickStart![1]).toBe(readFileSync(new URL('../examples/quick-start.ts', import.meta.url), 'utf8'))
  })
})
