// Statistics and plain-text tables for `npm run bench`. No dependencies.

/** Median and p95 (nearest rank) of a list of samples. */
export interface Stats { median: number, p95: number, min: number, n: number }

export const stats = (samples: readonly number[]): Stats => {
  if (samples.length === 0) return { median: NaN, p95: NaN, min: NaN, n: 0 }
  const s = [...samples].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  const p95 = s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!
  return { median, p95, min: s[0]!, n: s.length }
}

/** `a / b` formatted as `12.3×`; `–` when either side is missing. */
export const ratio = (a: number | undefined, b: number | undefined): string => {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return '–'
  const r = a / b
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`
}

/** Milliseconds, with a precision that suits the size. */
export const ms = (v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '–'
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`
  if (v >= 100) return `${v.toFixed(0)} ms`
  if (v >= 10) return `${v.toFixed(1)} ms`
  return `${v.toFixed(2)} ms`
}

/** Microseconds. */
export const us = (v: number | undefined): string => v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)} µs`

export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} kB`

export type Cell = string | number
export type Align = 'l' | 'r'

/**
 * Renders a table as Markdown-compatible text (pipes), so the same output can be
 * pasted into docs/performance.md.
 */
export const renderTable = (headers: readonly string[], rows: readonly (readonly Cell[])[], align?: readonly Align[]): string => {
  // default: text columns (any cell not starting with a digit, –, ~ or ±) left, numbers right
  align ??= headers.map((_, i) => rows.every((r) => /^[-\d~±–.>]/.test(String(r[i] ?? '–'))) ? 'r' : 'l')
  const cells = rows.map((r) => r.map(String))
  const width = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)))
  const pad = (s: string, i: number): string => (align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? s.padEnd(width[i]!) : s.padStart(width[i]!)
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => pad(c, i)).join(' | ')} |`
  const sep = `|${width.map((w, i) => (align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`).join('|')}|`
  return [line(headers), sep, ...cells.map(line)].join('\n')
}

/** A titled table plus notes; what every scenario returns. */
export interface Section {
  title: string
  table: string
  notes: string[]
  /** headline numbers for the closing summary */
  summary?: Record<string, string>
}

export const printSection = (s: Section): void => {
  console.log(`\n## ${s.title}\n`)
  console.log(s.table)
  for (const n of s.notes) console.log(`\n${n}`)
}
