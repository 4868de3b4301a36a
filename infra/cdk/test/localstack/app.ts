// The stack the LocalStack deploy test creates (infra/tests/test_localstack_deploy.py):
// Floodgate with one circuit whose mapping, consumer, queue and controller code are
// CloudFormation parameters, so one synthesized template serves every run. x86_64, because
// LocalStack's host executor runs only this machine's architecture; destroyable, so the test
// leaves nothing behind.
//
//   npx ts-node --transpile-only test/localstack/app.ts <outdir>
import { App, CfnOutput, CfnParameter, DefaultStackSynthesizer, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import { Floodgate } from '../../lib';

const outdir = process.argv[2];
if (outdir === undefined) {
  throw new Error('usage: app.ts <outdir>');
}
const app = new App({ outdir });
// No assets (the code comes from a bucket the test fills), so no bootstrap stack is needed.
const stack = new Stack(app, 'FloodgateLocalStack', { synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }) });
const parameter = (id: string, description: string) => new CfnParameter(stack, id, { type: 'String', description }).valueAsString;

const consumerRoleArn = parameter('ConsumerRoleArn', 'The role of the consumer');
const floodgate = new Floodgate(stack, 'Floodgate', {
  name: parameter('Name', 'Prefix of alarm and log group names'),
  code: lambda.Code.fromBucket(s3.Bucket.fromBucketName(stack, 'ControllerCode', parameter('CodeBucket', 'Bucket of the controller zip')), parameter('CodeKey', 'Key of the controller zip')),
  architecture: lambda.Architecture.X86_64,
  removalPolicy: RemovalPolicy.DESTROY,
  circuits: [
    {
      name: 'orders',
      eventSourceMappingId: parameter('MappingUuid', 'The protected event source mapping'),
      consumer: lambda.Function.fromFunctionName(stack, 'Consumer', parameter('ConsumerName', 'The consumer function')),
      consumerRole: iam.Role.fromRoleArn(stack, 'ConsumerRole', consumerRoleArn, { mutable: false }),
      sourceQueue: sqs.Queue.fromQueueArn(stack, 'Source', parameter('QueueArn', 'The source queue')),
      levels: { max: 10, safe: 4 },
    },
  ],
});

const orders = floodgate.circuit('orders');
new CfnOutput(stack, 'AliasArn', { value: floodgate.alias.functionArn });
new CfnOutput(stack, 'FunctionName', { value: floodgate.controller.functionName });
new CfnOutput(stack, 'KeyArn', { value: floodgate.key.keyArn });
new CfnOutput(stack, 'DeadLetterQueueUrl', { value: orders.deadLetterQueue.queueUrl });
new CfnOutput(stack, 'OverflowQueueUrl', { value: orders.overflowQueue.queueUrl });
new CfnOutput(stack, 'FailureQueueUrl', { value: floodgate.failureQueue.queueUrl });
new CfnOutput(stack, 'ScheduleName', { value: floodgate.schedule.scheduleName });
app.synth();
