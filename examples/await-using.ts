// The standalone form, without Middy: `await using` disposes the scope when the block
// is left, however it is left (return, throw). Here, a CSV export that writes a temp
// file, compresses it into a second one and returns a digest of the result.
//
// Works in any Node >= 20 code: a plain Lambda handler, a script, a queue worker.
// (TypeScript >= 5.2 compiles `await using`; Node 24 also runs it natively.)
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { CleanupScope, type CleanupReport } from 'middy-cleanup'

export interface ExportEvent {
  rows: Array<Record<string, string | number>>
}

export interface ExportResult {
  rows: number
  gzipBytes: number
  sha256: string
}

/** Reports of the scopes this module disposed, for the test and for metrics. */
export const reports: CleanupReport[] = []

export const handler = async (event: ExportEvent): Promise<ExportResult> => {
  await using scope = new CleanupScope({ timeoutMs: 1000, onReport: (r) => { reports.push(r) } })
  if (!Array.isArray(event.rows)) throw new TypeError('event.rows must be an array')

  const csv = await scope.tempFile({ prefix: 'export-', suffix: '.csv' })
  const fh = scope.handle(await open(csv, 'w')) // closed when the block is left, even on a throw
  const columns = Object.keys(event.rows[0] ?? {})
  await fh.write(`${columns.join(',')}\n`)
  for (const row of event.rows) {
    const cells = columns.map((c) => row[c])
    if (cells.some((v) => v === undefined)) throw new Error(`row ${JSON.stringify(row)} lacks a column of ${columns.join(',')}`)
    await fh.write(`${cells.join(',')}\n`)
  }
  await fh.sync()

  const gz = await scope.tempFile({ suffix: '.csv.gz' })
  await pipeline(createReadStream(csv), createGzip(), createWriteStream(gz))
  const bytes = await readFile(gz)
  return { rows: event.rows.length, gzipBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
}
