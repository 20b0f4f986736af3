// The README's compatibility table says what CI runs and what Middy itself declares:
// every Node it lists is run by CI (.ci/run's main run + .ci/matrix.sh's defaults), its
// lowest Node is package.json's `engines`, and a cell for a Middy major
// whose own `engines` exclude that Node says so instead of a plain ✓.
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'

const read = (p: string): string => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8')
const readme = read('README.md')
const pkg = JSON.parse(read('package.json')) as { engines: { node: string } }
const section = readme.slice(readme.indexOf('## Compatibility'), readme.indexOf('\n## ', readme.indexOf('## Compatibility') + 5))
const rows = section.split('\n').filter((l) => /^\| \d+ \|/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
const header = section.split('\n').find((l) => l.startsWith('| Node |'))!.split('|').slice(1, -1).map((c) => c.trim())
const middyColumns = header.map((h, i) => [i, /`@middy\/core` (\d+)/.exec(h)?.[1]] as const).filter(([, m]) => m !== undefined)
const middyEngines: Record<string, string> = {
  5: (JSON.parse(read('node_modules/middy5/package.json')) as { engines: { node: string } }).engines.node,
  6: (JSON.parse(read('node_modules/middy6/package.json')) as { engines: { node: string } }).engines.node,
  7: (JSON.parse(read('node_modules/@middy/core/package.json')) as { engines: { node: string } }).engines.node,
}
const minOf = (range: string): number => Number(/^>=\s*(\d+)/.exec(range)?.[1] ?? NaN)

describe('README compatibility table', () => {
  it('lists Node 20, 22, 24 and a column per Middy major', () => {
    expect(rows.map((r) => Number(r[0])).sort()).toEqual([20, 22, 24])
    expect(middyColumns.map(([, m]) => m)).toEqual(['5', '6', '7'])
  })

  it("its lowest Node is package.json's engines; the others are .ci/matrix.sh's, the lowest is .ci/run's main run", () => {
    const nodes = rows.map((r) => Number(r[0]))
    expect(minOf(pkg.engines.node)).toBe(Math.min(...nodes))
    const matrixDefault = /nodes="\$\{MATRIX_NODES:-([\d ]+)\}"/.exec(read('.ci/matrix.sh'))![1]!.split(' ').map(Number)
    // .ci/run runs `npm test` on the machine's Node (20 on this project's machines), then the matrix
    expect(nodes.filter((n) => !matrixDefault.includes(n))).toEqual([minOf(pkg.engines.node)])
    expect(matrixDefault.every((n) => nodes.includes(n))).toBe(true)
  })

  it("a Node that a Middy major's own engines exclude is marked as not supported by Middy, never a plain ✓", () => {
    let excluded = 0
    for (const r of rows) {
      for (const [i, m] of middyColumns) {
        if (Number(r[0]) >= minOf(middyEngines[m!]!)) {
          expect(r[i]).toMatch(/^✓/)
        } else {
          excluded++
          expect(r[i]).toMatch(/not supported by Middy/)
        }
      }
    }
    expect(excluded).toBeGreaterThan(0) // Node 20 × Middy 7 today
  })
})
