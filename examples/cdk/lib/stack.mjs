// @ts-check
// A function using cleanup() + shutdown(), its scratch bucket (lifecycle rule on tmp/ as
// the backstop for a process killed outright) and its jobs table (TTL on expiresAt), with
// exactly the IAM actions of docs/recipes.md § IAM, feature by feature.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib'
import { AttributeType, Billing, TableV2 } from 'aws-cdk-lib/aws-dynamodb'
import { PolicyStatement } from 'aws-cdk-lib/aws-iam'
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda'
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs'
import { Bucket } from 'aws-cdk-lib/aws-s3'

const here = dirname(fileURLToPath(import.meta.url))
const projectRoot = join(here, '..')

export class CleanupExampleStack extends Stack {
  /**
   * @param {import('constructs').Construct} scope
   * @param {string} id
   * @param {import('aws-cdk-lib').StackProps} [props]
   */
  constructor (scope, id, props) {
    super(scope, id, props)

    const scratch = new Bucket(this, 'Scratch', {
      lifecycleRules: [{ prefix: 'tmp/', expiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      // or, for tagged temp objects among permanent ones: tagFilters: { 'middy-cleanup': 'temp' }
      removalPolicy: RemovalPolicy.DESTROY,
    })

    const jobs = new TableV2(this, 'Jobs', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: RemovalPolicy.DESTROY,
    })

    const fn = new NodejsFunction(this, 'Fn', {
      entry: join(projectRoot, 'lambda', 'index.ts'),
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: Duration.seconds(30),
      environment: { S3_SCRATCH_BUCKET: scratch.bucketName, JOBS_TABLE: jobs.tableName },
      bundling: {
        format: OutputFormat.ESM, // top-level `await shutdown().ready` needs ES module output
        // CDK's usual banner for ESM: bundled CommonJS (e.g. a bundled AWS SDK) gets a `require`
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        // the AWS SDK v3 stays external (the runtime's): CDK's default for Node 18+
      },
    })

    // docs/recipes.md § IAM: putObject (+ tags) and its delete; putItem and its delete
    fn.addToRolePolicy(new PolicyStatement({
      actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject'],
      resources: [scratch.arnForObjects('tmp/*')],
    }))
    fn.addToRolePolicy(new PolicyStatement({
      actions: ['dynamodb:PutItem', 'dynamodb:DescribeTable', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem'],
      resources: [jobs.tableArn],
    }))
  }
}
