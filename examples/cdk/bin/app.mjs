#!/usr/bin/env node
// The CDK app: one environment-agnostic stack, so `cdk synth` needs no AWS account or
// credentials (nothing is looked up).
import { App } from 'aws-cdk-lib'
import { CleanupExampleStack } from '../lib/stack.mjs'

const app = new App()
new CleanupExampleStack(app, 'MiddyCleanupExample')
