// Compiled by `tsc --noEmit` (CI), never run: the `logger` option accepts what users
// pass under --strict. The Powertools Logger is declared here with the signatures of
// @aws-lambda-powertools/logger (v2: `warn(input: LogItemMessage, ...extraInput:
// LogItemExtraInput): void`, a class with methods) so no dependency is needed for it.
import { cleanup, CleanupScope, shutdown, type Logger } from '../../src/index.js'

type LogAttributes = { [key: string]: unknown }
type LogItemMessage = string | (LogAttributes & { message: string })
type LogItemExtraInput = [Error | string] | LogAttributes[]
declare class PowertoolsLogger {
  debug (input: LogItemMessage, ...extraInput: LogItemExtraInput): void
  info (input: LogItemMessage, ...extraInput: LogItemExtraInput): void
  warn (input: LogItemMessage, ...extraInput: LogItemExtraInput): void
  error (input: LogItemMessage, ...extraInput: LogItemExtraInput): void
  critical (input: LogItemMessage, ...extraInput: LogItemExtraInput): void
  private readonly logLevel: number
}
declare const powertools: PowertoolsLogger

export const a = cleanup({ logger: powertools })
export const b = new CleanupScope({ logger: powertools })
export const c = shutdown({ logger: powertools })
export const d: Logger = powertools
export const e = cleanup({ logger: console })
export const f = cleanup({ logger: false })
export const g = cleanup({ logger: (message: string, ...extra: unknown[]) => { console.error(message, ...extra) } })
export const h = cleanup({ logger: console.error }) // Middy style
// @ts-expect-error a logger needs warn() and error()
export const i = cleanup({ logger: { warn: () => {} } })
// @ts-expect-error true is not a logger (false silences)
export const j = cleanup({ logger: true })
