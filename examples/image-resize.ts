// Image resizing with temp S3 objects and /tmp files.
//
// The source image is downloaded to /tmp, one rendition per width is written to /tmp and
// staged under the scratch bucket's tmp/ prefix (where, in a real pipeline, a second
// process such as a moderation scan would read it), then the finished thumbnails are
// written to the output bucket. The staged objects and every /tmp file are temporary:
// they are deleted on every exit path — success, a thrown error, Middy's timeout — and
// only the thumbnails stay.
//
// Deploy: S3_SCRATCH_BUCKET names the scratch bucket; the function needs
// s3:GetObject on the source, s3:PutObject + s3:DeleteObject on scratch-bucket/tmp/*
// and s3:PutObject on the output (docs/recipes.md has the IAM policy and the lifecycle
// rule that backs up `tags: true`).
import middy from '@middy/core'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { createWriteStream } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { extname } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { cleanup } from 'middy-cleanup'

// Created once per execution environment (at init) and reused by warm invocations.
const s3 = new S3Client({})
const SCRATCH = process.env.S3_SCRATCH_BUCKET ?? 'scratch-bucket'

export interface ResizeEvent {
  /** bucket and key of the source image */
  bucket: string
  key: string
  /** where the thumbnails go; default: `thumbnails/` in the source bucket */
  outputBucket?: string
  widths?: number[]
}

export interface ResizeResult {
  thumbnails: string[]
}

/** Stands in for sharp / ImageMagick: "renders" `width` by keeping a slice of the bytes. */
const render = (image: Buffer, width: number): Buffer =>
  Buffer.concat([Buffer.from(`w=${width};`), image.subarray(0, Math.min(image.length, width * 4))])

export const handler = middy<ResizeEvent, ResizeResult>({ timeoutEarlyInMillis: 500 }) // leave cleanup time on a timeout
  .use(cleanup({ s3, allow: { s3: [`${SCRATCH}/tmp/`] } }))
  .handler(async (event, context) => {
    const { cleanup: scope, awsRequestId } = context

    // /tmp: removed on every exit path, with the per-invocation directory they live in
    const source = await scope.tempFile({ prefix: 'source-', suffix: extname(event.key) })
    const object = await s3.send(new GetObjectCommand({ Bucket: event.bucket, Key: event.key }))
    // the write stream is closed on every exit path too (pipeline closes it on success)
    await pipeline(object.Body as Readable, scope.handle(createWriteStream(source)))
    const image = await readFile(source)

    const thumbnails: string[] = []
    for (const width of event.widths ?? [64, 256]) {
      const file = await scope.tempFile({ prefix: `w${width}-`, suffix: '.img' })
      await writeFile(file, render(image, width))
      const body = await readFile(file)
      // staged in the scratch bucket, deleted with one DeleteObjects for all of them;
      // `tags: true` marks it for the lifecycle rule that expires what a killed process left
      await scope.putObject({ Bucket: SCRATCH, Key: `tmp/${awsRequestId}/w${width}.img`, Body: body }, { tags: true })
      const key = `thumbnails/${event.key}.w${width}.img`
      await s3.send(new PutObjectCommand({ Bucket: event.outputBucket ?? event.bucket, Key: key, Body: body }))
      thumbnails.push(key)
    }
    return { thumbnails }
  })
