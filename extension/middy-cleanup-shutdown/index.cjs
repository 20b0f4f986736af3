'use strict'
// External Lambda extension for middy-cleanup: registers for SHUTDOWN and waits.
// Its only purpose is to exist: with an extension registered, Lambda sends SIGTERM
// to the runtime (where shutdown() runs the teardowns) and grants a shutdown phase
// of up to 2000 ms, of which the runtime gets ~300 ms.
// Plain CommonJS, node:http only, no dependencies. Exits 0 on SHUTDOWN.
const http = require('node:http')

const name = process.argv[2] || 'middy-cleanup-shutdown'
const api = process.env.AWS_LAMBDA_RUNTIME_API
const log = (msg) => process.stderr.write(`[${name}] ${msg}\n`)

const call = (method, path, headers, body) => new Promise((resolve, reject) => {
  const url = new URL(`http://${api}${path}`)
  const req = http.request({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || 80,
    method,
    path,
    headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    agent: false,
  }, (res) => {
    let data = ''
    res.setEncoding('utf8')
    res.on('data', (c) => { data += c })
    res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }))
    res.on('error', reject)
  })
  req.on('error', reject)
  req.end(body)
})

const main = async () => {
  if (!api) {
    log('AWS_LAMBDA_RUNTIME_API is not set: not running inside Lambda')
    process.exit(1)
  }
  const reg = await call('POST', '/2020-01-01/extension/register', { 'Lambda-Extension-Name': name }, JSON.stringify({ events: ['SHUTDOWN'] }))
  const id = reg.headers['lambda-extension-identifier']
  if (reg.status !== 200 || !id) {
    log(`register failed: HTTP ${reg.status} ${reg.body.slice(0, 300)}`)
    process.exit(1)
  }
  for (;;) {
    const res = await call('GET', '/2020-01-01/extension/event/next', { 'Lambda-Extension-Identifier': id })
    if (res.status !== 200) {
      log(`event/next failed: HTTP ${res.status} ${res.body.slice(0, 300)}`)
      process.exit(1)
    }
    let event = {}
    try { event = JSON.parse(res.body) } catch {}
    if (event.eventType === 'SHUTDOWN') process.exit(0)
  }
}

// Lambda ends extensions with SHUTDOWN, then SIGKILL; a plain SIGTERM (local runs) exits quietly.
process.on('SIGTERM', () => process.exit(0))
main().catch((error) => {
  log(`failed: ${error && error.message ? error.message : String(error)}`)
  process.exit(1)
})
