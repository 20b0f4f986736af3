// Real S3 + DynamoDB servers for tests, `npm run demo` and `npm run bench`.
// Plain JS ESM so jest's globalSetup (.mjs), tsx scripts and the bench can all import it.
// Every server binds 127.0.0.1 on a free port and is stopped by its own handle / PID.
import { spawn, spawnSync } from 'node:child_process'
import { createServer, request } from 'node:http'

/**
 * @typedef {object} Backend
 * @property {string} name              'embedded' (fauxqs + dynalite, in-process) or 'moto' (moto_server child)
 * @property {string} s3Endpoint        e.g. http://127.0.0.1:41234
 * @property {string} dynamodbEndpoint  e.g. http://127.0.0.1:41235
 * @property {{ versioning: boolean, tagging: boolean, ifMatch: boolean, perKeyErrors: boolean }} features
 * @property {() => Promise<void>} stop
 */

/** What each backend faithfully implements (see /work/shared/README.md). */
export const FEATURES = {
  // fauxqs ignores versioning, PutObjectTagging overwrites the body, no If-Match on DeleteObject
  embedded: { versioning: false, tagging: false, ifMatch: false, perKeyErrors: false },
  moto: { versioning: true, tagging: true, ifMatch: true, perKeyErrors: true },
}

/** Starts fauxqs (S3) and dynalite (DynamoDB) in this process. @returns {Promise<Backend>} */
export async function startEmbedded () {
  const [{ buildApp }, { default: dynalite }] = await Promise.all([import('fauxqs'), import('dynalite')])
  // buildApp + listen(host) rather than startFauxqs(): startFauxqs binds 0.0.0.0 whatever host says
  const app = buildApp({ logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const s3Port = /** @type {import('node:net').AddressInfo} */ (app.server.address()).port

  const ddb = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  await new Promise((resolve, reject) => {
    ddb.once('error', reject)
    ddb.listen(0, '127.0.0.1', () => { ddb.off('error', reject); resolve(undefined) })
  })
  const ddbPort = /** @type {import('node:net').AddressInfo} */ (ddb.address()).port

  let stopped = false
  return {
    name: 'embedded',
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    dynamodbEndpoint: `http://127.0.0.1:${ddbPort}`,
    features: FEATURES.embedded,
    async stop () {
      if (stopped) return
      stopped = true
      ddb.closeAllConnections?.()
      await Promise.all([
        app.close(),
        new Promise((resolve) => ddb.close(() => resolve(undefined))),
      ])
    },
  }
}

/** True when `moto_server` is on PATH. */
export function motoAvailable () {
  const r = spawnSync('sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' })
  return r.status === 0
}

/** A free TCP port on 127.0.0.1 (asked from the OS, then released). */
export async function freePort () {
  const srv = createServer()
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', () => resolve(undefined)) })
  const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address())
  await new Promise((resolve) => srv.close(() => resolve(undefined)))
  return port
}

const ping = (port) => new Promise((resolve) => {
  const req = request({ host: '127.0.0.1', port, path: '/moto-api/', method: 'GET', timeout: 500 }, (res) => {
    res.resume()
    resolve(true)
  })
  req.on('error', () => resolve(false))
  req.on('timeout', () => { req.destroy(); resolve(false) })
  req.end()
})

/**
 * Spawns `moto_server -H 127.0.0.1 -p <free port>` (S3 and DynamoDB on one port) and
 * waits until it answers. `stop()` kills that child by its own PID.
 * @param {{ timeoutMs?: number }} [options]
 * @returns {Promise<Backend>}
 */
export async function startMoto ({ timeoutMs = 20000 } = {}) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    })
    let stderr = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000) })
    let exited = /** @type {null | { code: number | null, signal: string | null }} */ (null)
    let spawnError = /** @type {Error | null} */ (null)
    child.once('error', (e) => { spawnError = e })
    const exitedP = new Promise((resolve) => child.once('exit', (code, signal) => { exited = { code, signal }; resolve(undefined) }))

    const started = Date.now()
    let up = false
    while (Date.now() - started < timeoutMs && exited === null && spawnError === null) {
      if (await ping(port)) { up = true; break }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (!up) {
      if (exited === null) { child.kill('SIGKILL'); await exitedP }
      // the port may have been taken between freePort() and bind: try another one, a couple of times
      if (attempt < 2 && spawnError === null && /address already in use/i.test(stderr)) continue
      throw new Error(`moto_server did not answer on 127.0.0.1:${port} within ${timeoutMs} ms` +
        (spawnError ? `: ${spawnError.message}` : '') + (stderr ? `\n${stderr}` : ''))
    }
    // moto's own output is noise once it is up; keep draining stderr so the pipe never blocks
    child.stderr.removeAllListeners('data')
    child.stderr.resume()
    const endpoint = `http://127.0.0.1:${port}`
    return {
      name: 'moto',
      s3Endpoint: endpoint,
      dynamodbEndpoint: endpoint,
      features: FEATURES.moto,
      pid: child.pid,
      async stop () {
        if (exited !== null) return
        child.kill('SIGTERM')
        const t = setTimeout(() => { if (exited === null) child.kill('SIGKILL') }, 2000)
        await exitedP
        clearTimeout(t)
      },
    }
  }
}

/**
 * Starts every backend available: embedded always, moto when on PATH.
 * @param {{ moto?: boolean | 'required' }} [options]  default: moto when available
 * @returns {Promise<Backend[]>}
 */
export async function startAll ({ moto } = {}) {
  const wantMoto = moto ?? 'auto'
  const out = [await startEmbedded()]
  if (wantMoto === false) return out
  if (motoAvailable()) {
    try {
      out.push(await startMoto())
    } catch (e) {
      await Promise.all(out.map((b) => b.stop()))
      throw e
    }
  } else if (wantMoto === 'required') {
    await Promise.all(out.map((b) => b.stop()))
    throw new Error('moto_server is required (MIDDY_CLEANUP_REQUIRE_MOTO=1) but is not on PATH; install it with `pip install "moto[server]"`.')
  }
  return out
}

/** Name of the env var that carries the backends' endpoints from jest's globalSetup to the workers. */
export const BACKENDS_ENV = 'MIDDY_CLEANUP_TEST_BACKENDS'

/** Serializable description of the backends (no functions). */
export const describeBackends = (backends) =>
  JSON.stringify(backends.map(({ name, s3Endpoint, dynamodbEndpoint, features }) => ({ name, s3Endpoint, dynamodbEndpoint, features })))
