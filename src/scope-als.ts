import { AsyncLocalStorage } from 'node:async_hooks'
import { processSlot } from './process-state.js'

/**
 * @internal The current scope of each async call tree (`currentScope()`,
 * `scope.run()`). One store per process, so two copies of this package agree on the
 * current scope. Typed `unknown` here so neither the scope nor context.ts imports the other.
 *
 * @example
 * ```ts
 * scopeStorage().run(scope, () => currentScope() === scope) // true
 * ```
 */
export const scopeStorage = (): AsyncLocalStorage<unknown> => (storage ??= processSlot('als', () => new AsyncLocalStorage<unknown>()))
// looked up once: every invocation enters it
let storage: AsyncLocalStorage<unknown> | undefined
