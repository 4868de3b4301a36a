import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import type { CircuitProps, FloodgateProps } from '../lib';
import { CircuitAction } from '../lib';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** A stack in a fixed account and region, so ARNs in the template are predictable. */
export function testStack(): Stack {
  return new Stack(new App(), 'Test', { env: { account: ACCOUNT, region: REGION } });
}

/**
 * A stand-in controller package: a directory holding a `bootstrap` file, so the tests need
 * no cargo build. The real package comes from scripts/build-controller.
 */
export function placeholderCode(): lambda.Code {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodgate-code-'));
  fs.writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  return lambda.Code.fromAsset(dir);
}

/** A circuit on an existing consumer and queue named `name` (referenced once per stack). */
export function circuit(stack: Stack, name: string, uuid: string, extra: Partial<CircuitProps> = {}): CircuitProps {
  const consumer =
    (stack.node.tryFindChild(`${name}Consumer`) as lambda.IFunction | undefined) ??
    lambda.Function.fromFunctionName(stack, `${name}Consumer`, `${name}-consumer`);
  const sourceQueue =
    (stack.node.tryFindChild(`${name}Queue`) as sqs.IQueue | undefined) ??
    sqs.Queue.fromQueueArn(stack, `${name}Queue`, `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`);
  return {
    name,
    eventSourceMappingId: uuid,
    consumer,
    sourceQueue,
    levels: { max: 50, safe: 10 },
    ...extra,
  };
}

export const ORDERS_UUID = '14e0db71-5d35-4eb5-b481-8945cf9d10c2';
export const PAYMENTS_UUID = '2b1e5c4d-7a6f-4e3b-9c8d-1f0a2b3c4d5e';
export const AUDIT_UUID = '3c2f6d5e-8b7a-4f4c-ad9e-2a1b3c4d5e6f';

/**
 * The known example both modules render (infra/terraform/tests/example.tfvars is the same
 * deployment): three circuits covering defaults, every optional field, and unmanaged
 * reserved concurrency.
 */
export function exampleProps(stack: Stack): FloodgateProps {
  return {
    code: placeholderCode(),
    controlPlaneRatePerSec: 4,
    circuits: [
      circuit(stack, 'orders', ORDERS_UUID, {
        alarms: { custom: [{ alarmName: 'orders-latency', action: CircuitAction.OPEN }] },
      }),
      circuit(stack, 'payments', PAYMENTS_UUID, {
        levels: { max: 20, safe: 8, probe: 4 },
        headroom: 2,
        killSwitch: true,
        actions: { age: CircuitAction.OPEN },
        timings: {
          openWait: Duration.seconds(30),
          openWaitCap: Duration.minutes(10),
          jitter: 0.1,
          healthyDwell: Duration.seconds(90),
          minDwell: Duration.seconds(20),
          probeWindow: Duration.seconds(45),
          rampStep: Duration.seconds(30),
          throttleStep: Duration.seconds(40),
        },
        seed: 7,
        alarms: { throttles: false, depth: { threshold: 500 } },
        overflow: {
          ceiling: 200,
          moveRatePerSec: 40,
          maxMovesPerInvocation: 400,
          replayAfter: Duration.minutes(5),
          replayRatePerSec: 20,
          maxReplaysPerInvocation: 100,
        },
      }),
      circuit(stack, 'audit', AUDIT_UUID, {
        levels: { max: 5, safe: 2 },
        manageReservedConcurrency: false,
        alarms: { throttles: false, depth: false, age: false },
      }),
    ],
  };
}

type Json = unknown;

/**
 * Evaluates the intrinsic functions CDK emits (`Ref`, `Fn::Join`, `Fn::Select`, `Fn::Split`,
 * `Fn::GetAtt`) with the pseudo parameters of a stack in ACCOUNT/REGION of the `aws`
 * partition, so a template value can be compared with what CloudFormation would produce.
 */
export function resolve(value: Json, refs: Record<string, string> = {}): Json {
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    ...refs,
  };
  if (Array.isArray(value)) {
    return value.map((v) => resolve(v, refs));
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  const entries = Object.entries(value as Record<string, Json>);
  if (entries.length === 1) {
    const [fn, arg] = entries[0];
    switch (fn) {
      case 'Ref': {
        const name = arg as string;
        if (!(name in pseudo)) {
          throw new Error(`no value for Ref ${name}`);
        }
        return pseudo[name];
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, Json[]];
        return parts.map((p) => resolve(p, refs)).join(sep);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [number, Json];
        return (resolve(list, refs) as Json[])[index];
      }
      case 'Fn::Split': {
        const [sep, text] = arg as [string, Json];
        return (resolve(text, refs) as string).split(sep);
      }
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = arg as [string, string];
        const key = `${logicalId}.${attribute}`;
        if (!(key in pseudo)) {
          throw new Error(`no value for Fn::GetAtt ${key}`);
        }
        return pseudo[key];
      }
      default:
        break;
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v, refs)]));
}

/** JSON with object keys sorted at every level, two-space indented, newline-terminated. */
export function canonicalJson(value: Json): string {
  const sort = (v: Json): Json => {
    if (Array.isArray(v)) {
      return v.map(sort);
    }
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .map((k) => [k, sort((v as Record<string, Json>)[k])]),
      );
    }
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}
