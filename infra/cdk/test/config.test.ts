import * as fs from 'node:fs';
import * as path from 'node:path';

import { CfnElement, CfnParameter, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import { CONFIG_ENV, Floodgate } from '../lib';
import { ACCOUNT, canonicalJson, circuit, exampleProps, ORDERS_UUID, placeholderCode, REGION, resolve, testStack } from './helpers';

/**
 * The rendered config of the known example, committed so the controller's loader can be run
 * on it by `cargo test` (tests/tests/infra_config.rs). `UPDATE_RENDERED=1 npx jest` rewrites it.
 */
const RENDERED = path.resolve(__dirname, '../../tests/rendered/cdk-example.json');

/**
 * The config in the controller's environment, with every reference resolved: the overflow
 * queues get the URL a queue named `<circuit>-overflow` would have (as in the Terraform harness).
 */
function renderedConfig(floodgate: Floodgate, refs: Record<string, string> = {}): Record<string, unknown> {
  const stack = Stack.of(floodgate);
  const queueUrls = Object.fromEntries(
    floodgate.circuits.map((c) => [
      stack.getLogicalId(c.overflowQueue.node.defaultChild as CfnElement),
      `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${c.name}-overflow`,
    ]),
  );
  const template = Template.fromStack(stack).toJSON();
  const functions = Object.values(template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>).filter(
    (r) => r.Type === 'AWS::Lambda::Function',
  );
  expect(functions).toHaveLength(1);
  const env = (functions[0].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  return JSON.parse(resolve(env[CONFIG_ENV], { ...queueUrls, ...refs }) as string) as Record<string, unknown>;
}

test('renders the known example into the config document recorded for the controller loader', () => {
  const stack = testStack();
  const config = renderedConfig(new Floodgate(stack, 'Floodgate', exampleProps(stack)));
  const text = canonicalJson(config);
  if (process.env.UPDATE_RENDERED === '1') {
    fs.mkdirSync(path.dirname(RENDERED), { recursive: true });
    fs.writeFileSync(RENDERED, text);
  }
  expect(text).toEqual(fs.readFileSync(RENDERED, 'utf8'));
});

test('writes only the optional fields a prop sets, leaving the rest to the controller defaults', () => {
  const stack = testStack();
  const config = renderedConfig(
    new Floodgate(stack, 'Floodgate', { code: placeholderCode(), circuits: [circuit(stack, 'orders', ORDERS_UUID)] }),
  );
  expect(config).toEqual({
    account_id: '123456789012',
    region: 'us-east-1',
    circuits: [
      {
        name: 'orders',
        event_source_mapping_uuid: ORDERS_UUID,
        function_name: 'orders-consumer',
        queue_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/orders',
        alarms: [
          { name: 'floodgate-orders-errors', kind: 'errors' },
          { name: 'floodgate-orders-throttles', kind: 'throttles' },
          { name: 'floodgate-orders-depth', kind: 'depth' },
          { name: 'floodgate-orders-age', kind: 'age' },
        ],
        levels: { max: 50, safe: 10 },
        overflow: { queue_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/orders-overflow' },
      },
    ],
  });
});

test('renders token props (parameters) into the config as CloudFormation references', () => {
  const stack = testStack();
  const uuid = new CfnParameter(stack, 'MappingUuid').valueAsString;
  const consumer = new CfnParameter(stack, 'ConsumerName').valueAsString;
  const queueArn = new CfnParameter(stack, 'QueueArn').valueAsString;
  const floodgate = new Floodgate(stack, 'Floodgate', {
    code: placeholderCode(),
    circuits: [
      {
        name: 'orders',
        eventSourceMappingId: uuid,
        consumer: lambda.Function.fromFunctionName(stack, 'Consumer', consumer),
        sourceQueue: sqs.Queue.fromQueueArn(stack, 'Queue', queueArn),
        levels: { max: 10, safe: 4 },
      },
    ],
  });
  const config = renderedConfig(floodgate, {
    MappingUuid: '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a',
    ConsumerName: 'deployed-consumer',
    QueueArn: 'arn:aws:sqs:us-east-1:123456789012:deployed-queue',
  }) as { circuits: Array<Record<string, unknown>> };
  expect(config.circuits[0]).toMatchObject({
    event_source_mapping_uuid: '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a',
    function_name: 'deployed-consumer',
    queue_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/deployed-queue',
  });
});
