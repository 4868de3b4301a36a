#!/usr/bin/env node
// An example app: Floodgate protecting an existing SQS consumer, `orders-consumer`, fed by the
// queue `orders` through an existing event source mapping.
//
//   scripts/build-controller                      # the arm64 controller package
//   npx cdk synth -c ordersMappingId=<uuid>       # or deploy, with credentials
//
// Context: `controllerZip` (default: the build script's arm64 output), `ordersMappingId`,
// `ordersConsumer`, `ordersQueue`.
import * as path from 'node:path';

import { App, ArnFormat, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import { CircuitAction, Floodgate } from '../lib';

const app = new App();
const context = (key: string, fallback: string): string => (app.node.tryGetContext(key) as string | undefined) ?? fallback;

const stack = new Stack(app, 'FloodgateExample', {
  description: 'Floodgate example: an event-source circuit breaker for the orders consumer',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});

const ordersQueue = sqs.Queue.fromQueueArn(
  stack,
  'OrdersQueue',
  stack.formatArn({ service: 'sqs', resource: context('ordersQueue', 'orders'), arnFormat: ArnFormat.NO_RESOURCE_NAME }),
);
const floodgate = new Floodgate(stack, 'Floodgate', {
  code: Floodgate.codeFromZip(
    path.resolve(context('controllerZip', path.join(__dirname, '..', '..', '..', 'target', 'lambda', 'controller-arm64', 'bootstrap.zip'))),
  ),
  circuits: [
    {
      name: 'orders',
      eventSourceMappingId: context('ordersMappingId', '14e0db71-5d35-4eb5-b481-8945cf9d10c2'),
      consumer: lambda.Function.fromFunctionName(stack, 'OrdersConsumer', context('ordersConsumer', 'orders-consumer')),
      sourceQueue: ordersQueue,
      levels: { max: 50, safe: 10 },
      headroom: 5,
      actions: { age: CircuitAction.OPEN },
      timings: { openWait: Duration.minutes(2), healthyDwell: Duration.minutes(3) },
      alarms: { depth: { threshold: 5000 }, age: { threshold: 900 } },
    },
  ],
});

const orders = floodgate.circuit('orders');
new CfnOutput(stack, 'ControllerAlias', { value: floodgate.alias.functionArn, description: 'Invoke this for status and overrides' });
new CfnOutput(stack, 'OrdersDeadLetterQueue', { value: orders.deadLetterQueue.queueArn, description: 'Point the orders queue redrive policy here (maxReceiveCount >= 5)' });
new CfnOutput(stack, 'OrdersOverflowQueue', { value: orders.overflowQueue.queueUrl });
