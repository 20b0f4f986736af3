// jest globalTeardown: stops the servers globalSetup started (same process, same globalThis).
export default async function globalTeardown () {
  const backends = globalThis.__middyCleanupBackends ?? []
  globalThis.__middyCleanupBackends = undefined
  await Promise.all(backends.map((b) => b.stop()))
  if (backends.length > 0) process.stdout.write(`[middy-cleanup] backends that ran: ${backends.map((b) => b.name).join(', ')}\n`)
}
