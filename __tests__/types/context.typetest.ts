// Compiled by `tsc --noEmit` (CI), never run: proves `.use(cleanup())` types
// `context.cleanup` on Middy 5, 6 and 7 without casts, and that bad input is a type error.
import middy7 from '@middy/core'
import middy6 from 'middy6'
import middy5 from 'middy5'
import { open } from 'node:fs/promises'
import { cleanup, CleanupScope, currentScope, invocationLocal } from '../../src/index.js'

export const h7 = middy7()
  .use(cleanup())
  .handler(async (_event: unknown, context) => {
    const file: string = await context.cleanup.tempFile({ suffix: '.jpg' })
    const fh = context.cleanup.handle(await open(file, 'w'))
    context.cleanup.defer(() => undefined)
    const id: string = context.awsRequestId
    await fh.write('x')
    return id
  })

export const h6 = middy6()
  .use(cleanup())
  .handler(async (_event: unknown, context) => {
    await context.cleanup.tempDir()
    // @ts-expect-error handle() needs something closeable
    context.cleanup.handle(42)
  })

export const h5 = middy5()
  .use(cleanup())
  .handler(async (_event: unknown, context) => {
    context.cleanup.path('/tmp/x')
    // @ts-expect-error path() takes a string
    context.cleanup.path(1)
  })

// @ts-expect-error unknown option
cleanup({ timeoutMS: 10 })
// @ts-expect-error ill-typed option
cleanup({ timeoutMs: '10' })
// @ts-expect-error defer takes a function
new CleanupScope().defer('x')
// @ts-expect-error tempFile options
void new CleanupScope().tempFile({ sufix: '.x' })

export const local = invocationLocal(() => [] as string[])
export const n: number = local.get().length
export const s: CleanupScope = currentScope()

export async function standalone (): Promise<void> {
  await using scope = new CleanupScope({ timeoutMs: 100 })
  await scope.tempFile()
}
