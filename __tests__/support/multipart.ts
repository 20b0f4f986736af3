// Asking a real S3 server whether a multipart upload is still there, the same way in every test.
import { ListMultipartUploadsCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3'
import type { BackendInfo } from './backends.js'

/**
 * moto lists uploads; fauxqs has no ListParts/ListMultipartUploads, but an UploadPart to an
 * aborted or completed upload answers NoSuchUpload there (moto answers it with a 500 page).
 */
export const uploadExists = async (b: BackendInfo, s3: S3Client, Bucket: string, Key: string, UploadId: string): Promise<boolean> => {
  if (b.name === 'moto') {
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: Key }))
    return (listed.Uploads ?? []).some((u) => u.UploadId === UploadId)
  }
  try {
    await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 10_000, Body: 'probe' }))
    return true
  } catch (e) {
    if ((e as Error).name === 'NoSuchUpload') return false
    throw e
  }
}
