import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';

import { ALARM_ACTION_PRINCIPAL, CircuitAction, Floodgate } from '../lib';
import { ACCOUNT, AUDIT_UUID, circuit, exampleProps, ORDERS_UUID, PAYMENTS_UUID, placeholderCode, REGION, resolve, testStack } from './helpers';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Principal?: unknown; Condition?: unknown };

// Built once: synthesizing is the slow part, and every test below only reads the template.
const stack = testStack();
const floodgate = new Floodgate(stack, 'Floodgate', exampleProps(stack));
const template = Template.fromStack(stack);
const resources = template.toJSON().Resources as Record<string, Resource>;

function logicalId(construct: { node: { defaultChild?: unknown } } | object): string {
  return stack.getLogicalId((construct as { node: { defaultChild: never } }).node.defaultChild);
}

const keyId = logicalId(floodgate.key);
const aliasId = logicalId(floodgate.alias);
const failureQueueId = logicalId(floodgate.failureQueue);
const controllerRoleId = logicalId(floodgate.role);
// What the intrinsic references in this template resolve to, for comparing whole ARNs.
const refs: Record<string, string> = {
  [`${keyId}.Arn`]: `arn:aws:kms:${REGION}:${ACCOUNT}:key/floodgate-key`,
  [aliasId]: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:controller:live`,
  [`${failureQueueId}.Arn`]: `arn:aws:sqs:${REGION}:${ACCOUNT}:failures`,
};
for (const c of floodgate.circuits) {
  refs[`${logicalId(c.deadLetterQueue)}.Arn`] = `arn:aws:sqs:${REGION}:${ACCOUNT}:${c.name}-dlq`;
  refs[`${logicalId(c.overflowQueue)}.Arn`] = `arn:aws:sqs:${REGION}:${ACCOUNT}:${c.name}-overflow`;
}
const logGroupId = logicalId(floodgate.logGroup);
refs[`${logGroupId}.Arn`] = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/floodgate/floodgate/controller:*`;

function ofType(type: string): Array<[string, Resource]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function statementsOf(policy: Resource): Statement[] {
  return (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
}

function policiesOfRole(roleId: string): Statement[] {
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => statementsOf(p));
}

function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

const alarmArn = (name: string) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${name}`;
const everyAlarmName = [
  'floodgate-orders-errors',
  'floodgate-orders-throttles',
  'floodgate-orders-depth',
  'floodgate-orders-age',
  'orders-latency',
  'floodgate-payments-errors',
  'floodgate-payments-depth',
  'floodgate-payments-age',
  'floodgate-audit-errors',
];

describe('the controller function', () => {
  test('runs bootstrap on provided.al2023, arm64 by default, with reserved concurrency 1 and active tracing', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['arm64'],
      ReservedConcurrentExecutions: 1,
      TracingConfig: { Mode: 'Active' },
    });
  });

  test('can be built for x86_64 instead', () => {
    const other = testStack();
    new Floodgate(other, 'Floodgate', {
      code: placeholderCode(),
      architecture: lambda.Architecture.X86_64,
      circuits: [circuit(other, 'orders', ORDERS_UUID)],
    });
    Template.fromStack(other).hasResourceProperties('AWS::Lambda::Function', { Architectures: ['x86_64'] });
  });

  test('encrypts its environment with the Floodgate key and logs JSON to its own log group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      KmsKeyArn: { 'Fn::GetAtt': [keyId, 'Arn'] },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logGroupId } },
    });
  });

  test('keeps its logs a year, encrypted with the Floodgate key', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/floodgate/floodgate/controller',
      RetentionInDays: 365,
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  test('is invoked through the live alias, whose failed asynchronous invocations go to the failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::Alias', { Name: 'live' });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      Qualifier: Match.anyValue(),
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failureQueueId, 'Arn'] } } },
    });
  });
});

describe('the key', () => {
  test('is customer-managed with yearly rotation', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  const keyStatements = () => (resources[keyId].Properties.KeyPolicy as { Statement: Statement[] }).Statement;

  test('lets CloudWatch Logs use it only for the controller log group', () => {
    const logs = keyStatements().filter((s) => JSON.stringify(s.Principal).includes('logs.'));
    expect(logs).toHaveLength(1);
    expect(resolve(logs[0].Condition)).toEqual({
      ArnEquals: { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/floodgate/floodgate/controller` },
    });
  });

  test('lets a consumer role use it only through SQS, so dead letters can be moved', () => {
    const other = testStack();
    const role = iam.Role.fromRoleArn(other, 'ConsumerRole', `arn:aws:iam::${ACCOUNT}:role/orders-consumer`);
    new Floodgate(other, 'Floodgate', {
      code: placeholderCode(),
      circuits: [circuit(other, 'orders', ORDERS_UUID, { consumerRole: role })],
    });
    const key = Object.values(Template.fromStack(other).findResources('AWS::KMS::Key'))[0] as Resource;
    const statements = (key.Properties.KeyPolicy as { Statement: Statement[] }).Statement;
    const consumer = statements.filter((s) => JSON.stringify(s.Principal).includes('orders-consumer'));
    expect(consumer).toHaveLength(1);
    expect(resolve(consumer[0])).toEqual({
      Sid: 'SqsMovesDeadLettersAsTheConsumerOf0',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/orders-consumer` },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': `sqs.${REGION}.amazonaws.com` } },
    });
  });

  test('allows every action only to the account root, which administers it through IAM', () => {
    for (const statement of keyStatements()) {
      if (asList(statement.Action).some((a) => a === 'kms:*')) {
        expect(resolve(statement.Principal)).toEqual({ AWS: `arn:aws:iam::${ACCOUNT}:root` });
      } else {
        expect(statement.Condition).toBeDefined();
      }
    }
  });

  test('names no consumer when the consumer role is unknown', () => {
    expect(keyStatements().filter((s) => JSON.stringify(s).includes('kms:ViaService'))).toEqual([]);
  });
});

describe('the queues', () => {
  const queues = ofType('AWS::SQS::Queue');

  test('are a dead-letter and an overflow queue per circuit, and one failure queue', () => {
    expect(queues).toHaveLength(2 * 3 + 1);
  });

  test('are all encrypted with the customer-managed key', () => {
    for (const [, queue] of queues) {
      expect(queue.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    }
  });

  test('each have a policy that denies every request made without TLS', () => {
    for (const [id] of queues) {
      const policies = ofType('AWS::SQS::QueuePolicy').filter(([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: id }]));
      expect(policies).toHaveLength(1);
      expect(statementsOf(policies[0][1])).toEqual([
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'sqs:*',
          Resource: { 'Fn::GetAtt': [id, 'Arn'] },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]);
    }
  });

  test('grant nothing in their own policies: access comes only from the roles that need it', () => {
    for (const [, policy] of ofType('AWS::SQS::QueuePolicy')) {
      expect(statementsOf(policy).filter((s) => s.Effect === 'Allow')).toEqual([]);
    }
  });

  test('let only its source queue use a circuit dead-letter queue', () => {
    for (const c of floodgate.circuits) {
      expect(resources[logicalId(c.deadLetterQueue)].Properties.RedriveAllowPolicy).toEqual({
        redrivePermission: 'byQueue',
        sourceQueueArns: [`arn:aws:sqs:${REGION}:${ACCOUNT}:${c.name}`],
      });
    }
  });

  test('refuse to be anyone else dead-letter queue when they hold overflow or failures', () => {
    const others = [floodgate.failureQueue, ...floodgate.circuits.map((c) => c.overflowQueue)];
    for (const queue of others) {
      expect(resources[logicalId(queue)].Properties.RedriveAllowPolicy).toEqual({ redrivePermission: 'denyAll' });
    }
  });

  test('keep their messages when removed from the stack by default', () => {
    for (const [id] of queues) {
      expect((resources[id] as Resource & { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
    }
  });
});

describe('the alarms', () => {
  const alarms = ofType('AWS::CloudWatch::Alarm');

  test('are created per circuit for the kinds asked for, and not for custom alarms', () => {
    expect(alarms.map(([, a]) => a.Properties.AlarmName).sort()).toEqual(everyAlarmName.filter((n) => n !== 'orders-latency').sort());
  });

  test('invoke the controller alias on ALARM and on OK', () => {
    for (const [, alarm] of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: aliasId }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: aliasId }]);
    }
  });

  test('compute the error rate with metric math over a minimum invocation volume', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'floodgate-orders-errors',
      Threshold: 50,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(invocations >= 10, 100 * errors / invocations, 0)', ReturnData: true }),
        Match.objectLike({ Id: 'errors', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'Errors', Namespace: 'AWS/Lambda' }), Stat: 'Sum' }) }),
        Match.objectLike({ Id: 'invocations', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'Invocations' }) }) }),
      ]),
    });
  });

  test('watch throttles, queue depth and the age of the oldest message', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'floodgate-orders-throttles', MetricName: 'Throttles', Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'floodgate-orders-depth',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: 'orders' }],
      Threshold: 1000,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'floodgate-payments-depth', Threshold: 500 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'floodgate-orders-age', MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 300 });
  });

  test('hand custom alarms an action that targets the alias, already allowed to invoke it', () => {
    const other = testStack();
    const own = new Floodgate(other, 'Floodgate', {
      code: placeholderCode(),
      circuits: [circuit(other, 'orders', ORDERS_UUID, { alarms: { custom: [{ alarmName: 'orders-latency', action: CircuitAction.OPEN }] } })],
    });
    const latency = new cloudwatch.Alarm(other, 'Latency', {
      alarmName: 'orders-latency',
      metric: new cloudwatch.Metric({ namespace: 'AWS/Lambda', metricName: 'Duration', dimensionsMap: { FunctionName: 'orders-consumer' } }),
      threshold: 1000,
      evaluationPeriods: 1,
    });
    latency.addAlarmAction(own.alarmAction);
    latency.addOkAction(own.alarmAction);
    const ownAlias = other.getLogicalId(own.alias.node.defaultChild as never);
    const result = Template.fromStack(other);
    result.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'orders-latency', AlarmActions: [{ Ref: ownAlias }], OKActions: [{ Ref: ownAlias }] });
    result.hasResourceProperties('AWS::Lambda::Permission', { FunctionName: { Ref: ownAlias }, SourceArn: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':cloudwatch:us-east-1:123456789012:alarm:orders-latency'])] }) });
  });
});

describe('the invoke permissions', () => {
  const permissions = ofType('AWS::Lambda::Permission');

  test('let only CloudWatch alarms of this account invoke the alias, each by its exact alarm ARN', () => {
    expect(permissions).toHaveLength(everyAlarmName.length);
    for (const [, permission] of permissions) {
      expect(permission.Properties).toEqual({
        Action: 'lambda:InvokeFunction',
        FunctionName: { Ref: aliasId },
        Principal: ALARM_ACTION_PRINCIPAL,
        SourceAccount: ACCOUNT,
        SourceArn: expect.anything(),
      });
    }
    const sourceArns = permissions.map(([, p]) => resolve(p.Properties.SourceArn)).sort();
    expect(sourceArns).toEqual(everyAlarmName.map(alarmArn).sort());
  });
});

describe('the controller role', () => {
  const statements = policiesOfRole(controllerRoleId);
  const bySid = (sid: string) => {
    const found = statements.filter((s) => s.Sid === sid);
    expect(found).toHaveLength(1);
    return { actions: asList(found[0].Action).sort(), resources: asList(resolve(found[0].Resource, refs) as string | string[]).sort() };
  };
  const mappingArn = (uuid: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:event-source-mapping:${uuid}`;
  const functionArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}-consumer`;
  const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

  test('has no managed policies, only statements written for it', () => {
    expect(resources[controllerRoleId].Properties.ManagedPolicyArns).toBeUndefined();
    expect(resources[controllerRoleId].Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
    });
  });

  test('never allows a wildcard action, nor a wildcard resource except for X-Ray and GetMetricData, which have no resource types', () => {
    for (const statement of statements) {
      expect(statement.Effect).toBe('Allow');
      for (const action of asList(statement.Action)) {
        expect(action).not.toMatch(/(^\*$|:\*$)/);
      }
      const wildcard = asList(statement.Resource).includes('*');
      expect(wildcard).toBe(
        asList(statement.Action).every((a) => a.startsWith('xray:') || a === 'cloudwatch:GetMetricData'),
      );
    }
  });

  test('reads and actuates exactly the protected mappings and keeps state in their tags', () => {
    const mappings = [ORDERS_UUID, PAYMENTS_UUID, AUDIT_UUID].map(mappingArn).sort();
    expect(bySid('ReadAndActuateTheProtectedMappings')).toEqual({ actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'], resources: mappings });
    expect(bySid('KeepCircuitStateInMappingTags')).toEqual({ actions: ['lambda:ListTags', 'lambda:TagResource'], resources: mappings });
  });

  test('sets reserved concurrency only on consumers whose circuit manages it', () => {
    expect(bySid('ReadConsumerReservedConcurrency')).toEqual({
      actions: ['lambda:GetFunctionConcurrency'],
      resources: ['orders', 'payments', 'audit'].map(functionArn).sort(),
    });
    expect(bySid('SetConsumerReservedConcurrency')).toEqual({
      actions: ['lambda:PutFunctionConcurrency'],
      resources: ['orders', 'payments'].map(functionArn).sort(),
    });
  });

  test('reads the probe traffic metrics and dead-letters only to its circuits\' dead-letter queues', () => {
    expect(bySid('ReadProbeTraffic')).toEqual({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] });
    const deadLetters = bySid('DeadLetterWithAReason');
    expect(deadLetters.actions).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
    expect(deadLetters.resources).toHaveLength(3);
  });

  test('describes exactly the alarms of its circuits', () => {
    expect(bySid('ReadAlarmStates')).toEqual({ actions: ['cloudwatch:DescribeAlarms'], resources: everyAlarmName.map(alarmArn).sort() });
  });

  test('touches only the source and overflow queues of its circuits, and the key only by ARN', () => {
    expect(bySid('ReadSourceQueueDepth')).toEqual({ actions: ['sqs:GetQueueAttributes'], resources: ['orders', 'payments', 'audit'].map(queueArn).sort() });
    expect(bySid('MoveOverflowAndReplayIt').resources).toEqual(
      [...['orders', 'payments', 'audit'].map(queueArn), ...['orders', 'payments', 'audit'].map((n) => queueArn(`${n}-overflow`))].sort(),
    );
    expect(bySid('UseTheFloodgateKeyForOverflow')).toEqual({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [refs[`${keyId}.Arn`]] });
  });

  test('writes only to its own log group and failure queue', () => {
    const logs = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('logs:')));
    expect(logs.map((s) => resolve(s.Resource, refs))).toEqual([refs[`${logGroupId}.Arn`]]);
    const sends = statements.filter((s) => s.Sid === undefined && asList(s.Action).includes('sqs:SendMessage'));
    expect(sends.map((s) => resolve(s.Resource, refs))).toEqual([refs[`${failureQueueId}.Arn`]]);
  });
});

describe('the schedule', () => {
  test('ticks the alias every minute with the tick request, encrypted with the Floodgate key', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      KmsKeyArn: { 'Fn::GetAtt': [keyId, 'Arn'] },
      Target: Match.objectLike({ Arn: { Ref: aliasId }, Input: '{"floodgate":"tick"}', RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } }),
    });
  });

  test('runs as a role only the scheduler of this account can assume, allowed to invoke the alias and nothing else', () => {
    const schedule = ofType('AWS::Scheduler::Schedule')[0][1];
    const roleId = ((schedule.Properties.Target as { RoleArn: { 'Fn::GetAtt': [string, string] } }).RoleArn['Fn::GetAtt'])[0];
    const trust = (resources[roleId].Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
    expect(trust).toHaveLength(1);
    expect(trust[0]).toMatchObject({ Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': ACCOUNT } } });
    const statements = policiesOfRole(roleId).map((s) => ({ actions: asList(s.Action), resources: resolve(s.Resource, refs) }));
    expect(statements).toEqual([
      { actions: ['lambda:InvokeFunction'], resources: refs[aliasId] },
      { actions: ['kms:Decrypt'], resources: refs[`${keyId}.Arn`] },
    ]);
  });

  test('ticks at the interval asked for', () => {
    const other = testStack();
    new Floodgate(other, 'Floodgate', { code: placeholderCode(), tickInterval: Duration.minutes(5), circuits: [circuit(other, 'orders', ORDERS_UUID)] });
    Template.fromStack(other).hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(5 minutes)' });
  });
});

describe('circuit options', () => {
  test('a circuit with unmanaged reserved concurrency gets no permission to set it', () => {
    const other = testStack();
    new Floodgate(other, 'Floodgate', {
      code: placeholderCode(),
      circuits: [circuit(other, 'audit', AUDIT_UUID, { manageReservedConcurrency: false, alarms: { custom: [{ alarmName: 'audit-custom', action: CircuitAction.THROTTLE }] } })],
    });
    const text = JSON.stringify(Template.fromStack(other).toJSON());
    expect(text).not.toContain('lambda:PutFunctionConcurrency');
    expect(text).toContain('lambda:GetFunctionConcurrency');
  });

  test('the controller package must exist when given as a zip path', () => {
    expect(() => Floodgate.codeFromZip('/nonexistent/bootstrap.zip')).toThrow(/scripts\/build-controller/);
  });
});
