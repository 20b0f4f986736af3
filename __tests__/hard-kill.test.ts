// Exit path "hard kill": a process killed outright (SIGKILL, OOM) runs no cleanup at
// all. Lambda keeps /tmp, so the next process's first invocation finds the dead one's
// per-invocation dir and its journal, deletes the S3 objects and DynamoDB items listed
// there that its allow-lists allow (a journal is a hint: no allow-list, no replay; see
// journal-is-a-hint.test.ts), then the dir. Real processes, real servers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { backends, itemExists, objectExists, type BackendInfo, withBackend } from './support/backends.js'

const fixture = fileURLToPath(new URL('./fixtures/hard-kill.ts', import.meta.url))

// Both processes get a TMPDIR of their own: the killed one's dir must wait for the next
// one, not be swept by another test file's process sharing /tmp.
let tmp: string
beforeAll(async () => { tmp = await mkdtemp(join(tmpdir(), 'mc-hard-kill-')) })
afterAll(async () => { await rm(tmp, { recursive: true, force: true }) })

const run = (args: string[]): Promise<{ code: number | null, signal: NodeJS.Signals | null, out: string }> => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TMPDIR: tmp } })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.once('error', reject)
  child.once('exit', (code, signal) => resolve({ code, signal, out }))
})

describe.each(backends())('hard kill on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })

  it('the next process deletes what the killed one declared, then its temp dir', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'killed/b', Body: 'made elsewhere' }))
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'keep/c', Body: 'never declared' }))
    const endpoints = [b.s3Endpoint, b.dynamodbEndpoint, bucket, table]

    const killed = await run(['declare', ...endpoints])
    expect(killed.signal).toBe('SIGKILL')
    const file = /declared (\S+)/.exec(killed.out)?.[1]
    expect(file).toBeDefined()
    expect(existsSync(file!)).toBe(true)
    expect(await objectExists(s3, bucket, 'killed/a')).toBe(true)
    expect(await objectExists(s3, bucket, 'killed/b')).toBe(true)
    expect(await itemExists(ddb, table, { pk: { S: 'killed' }, sk: { S: '1' } })).toBe(true)

    const next = await run(['sweep', ...endpoints])
    expect(next.code).toBe(0)
    expect(next.out).toMatch(/left by a process killed outright; deleting the 3 S3 object\(s\) \/ DynamoDB item\(s\) its journal lists/)
    expect(await objectExists(s3, bucket, 'killed/a')).toBe(false)
    expect(await objectExists(s3, bucket, 'killed/b')).toBe(false)
    expect(await itemExists(ddb, table, { pk: { S: 'killed' }, sk: { S: '1' } })).toBe(false)
    expect(existsSync(dirname(file!))).toBe(false)
    expect(await objectExists(s3, bucket, 'keep/c')).toBe(true)
  })
})
