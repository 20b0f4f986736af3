// jest globalSetup: starts the real S3 + DynamoDB servers once for the whole run and hands
// their endpoints to the workers in an env var (workers inherit the parent's env).
// Embedded (fauxqs + dynalite) always; moto_server when it is on PATH.
// MIDDY_CLEANUP_REQUIRE_MOTO=1 (set by .ci/run) makes a missing moto_server an error;
// MIDDY_CLEANUP_BACKENDS=embedded|moto restricts the run to one backend.
import { BACKENDS_ENV, describeBackends, startAll, startEmbedded, startMoto } from '../../test-support/servers.mjs'

export default async function globalSetup () {
  const only = process.env.MIDDY_CLEANUP_BACKENDS
  const requireMoto = process.env.MIDDY_CLEANUP_REQUIRE_MOTO === '1'
  let backends
  if (only === 'embedded') backends = [await startEmbedded()]
  else if (only === 'moto') backends = [await startMoto()]
  else backends = await startAll({ moto: requireMoto ? 'required' : undefined })
  globalThis.__middyCleanupBackends = backends
  process.env[BACKENDS_ENV] = describeBackends(backends)
  const skipped = backends.some((b) => b.name === 'moto') ? '' : ' (moto_server not on PATH: moto backend skipped)'
  process.stdout.write(`\n[middy-cleanup] test backends: ${backends.map((b) => `${b.name} (s3 ${b.s3Endpoint}, dynamodb ${b.dynamodbEndpoint})`).join(', ')}${skipped}\n`)
}
