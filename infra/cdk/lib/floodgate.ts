import * as fs from 'node:fs';

import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

import { CONFIG_ENV, circuitAlarms, controllerConfig } from './config';
import type { AlarmOptions, CircuitProps, ErrorRateAlarmOptions, FloodgateProps } from './props';
import { SecureQueue } from './secure-queue';
import { FloodgatePropsError, generatedAlarmNames, validateProps } from './validate';

/** The service principal CloudWatch uses for an alarm's direct Lambda action. */
export const ALARM_ACTION_PRINCIPAL = 'lambda.alarms.cloudwatch.amazonaws.com';
/** What the scheduler sends on every tick (`core/src/protocol.rs`). */
export const TICK_INPUT = { floodgate: 'tick' } as const;
/** The alias the alarms, the scheduler and operators invoke. */
export const ALIAS_NAME = 'live';

// errors: 50 % of invocations. Lower, a few poison messages (each fails its whole batch, up to
// maxReceiveCount times) trip the circuit and stop a consumer a breaker cannot help; the
// controller's probe passes at the same rate (probe_max_error_ratio 0.5).
const DEFAULT_THRESHOLDS = { errors: 50, throttles: 1, depth: 1000, age: 300 } as const;
const DEFAULT_MIN_INVOCATIONS = 10;

/**
 * The resources Floodgate creates for one circuit.
 */
export interface CircuitResources {
  /** The circuit's name. */
  readonly name: string;
  /**
   * The secured dead-letter queue: point the source queue's redrive policy at it
   * (`maxReceiveCount` of at least 5). Only the source queue may use it.
   */
  readonly deadLetterQueue: sqs.Queue;
  /** Where the controller moves the excess of a flooded, tripped circuit. */
  readonly overflowQueue: sqs.Queue;
  /** The alarms Floodgate created for the circuit. */
  readonly alarms: cloudwatch.Alarm[];
  /** Every alarm the circuit obeys, created or custom, in config order. */
  readonly alarmNames: string[];
}

/**
 * Floodgate: an event-source circuit breaker for Lambda consumers of SQS.
 *
 * One controller function (reserved concurrency 1, invoked through its `live` alias) is
 * woken by each circuit's alarms on ALARM and OK and by a scheduled tick; it throttles or
 * disables the protected event source mappings and sets the consumers' reserved concurrency.
 * Everything it may touch is named by ARN in its role; only CloudWatch alarms of this
 * account, each by its own ARN, and the scheduler may invoke it. Dead letters, overflow and
 * failed invocations go to queues encrypted with a customer-managed key and reachable over
 * TLS only.
 */
export class Floodgate extends Construct {
  /**
   * The controller package built by `scripts/build-controller` (`bootstrap` at the root).
   * @param zipPath path of the zip, e.g. `target/lambda/controller-arm64/bootstrap.zip`
   */
  public static codeFromZip(zipPath: string): lambda.Code {
    if (!fs.existsSync(zipPath)) {
      throw new Error(`controller package ${zipPath} does not exist: build it with scripts/build-controller`);
    }
    return lambda.Code.fromAsset(zipPath);
  }

  /** The controller function. */
  public readonly controller: lambda.Function;
  /** The alias every invoker uses; alarm actions and the schedule target it. */
  public readonly alias: lambda.Alias;
  /** The controller's role. */
  public readonly role: iam.Role;
  /** The customer-managed key (rotated yearly) of the queues, the logs and the environment. */
  public readonly key: kms.Key;
  /** The controller's log group. */
  public readonly logGroup: logs.LogGroup;
  /** Where asynchronous invocations of the controller that failed every retry go. */
  public readonly failureQueue: sqs.Queue;
  /** The tick that drives time-based transitions and repairs what a lost event missed. */
  public readonly schedule: scheduler.Schedule;
  /** Per circuit, in props order. */
  public readonly circuits: CircuitResources[];
  /**
   * The alarm action that invokes the controller. Add it to the ALARM and OK actions of every
   * custom alarm; the invoke permission for custom alarms already exists.
   */
  public readonly alarmAction: cloudwatch.IAlarmAction;
  /** The controller configuration JSON (with tokens for account, region and queue URLs). */
  public readonly configJson: string;

  constructor(scope: Construct, id: string, props: FloodgateProps) {
    super(scope, id);
    const errors = validateProps(props);
    if (errors.length > 0) {
      throw new FloodgatePropsError(errors);
    }
    const stack = Stack.of(this);
    const name = props.name ?? 'floodgate';
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retention = props.queueRetention ?? Duration.days(14);

    // CDK's default key policy gives the account root `kms:*` on the key, so that the account
    // administers it through IAM, as for every customer-managed key; without it the key could
    // become unmanageable. Every other grant below is scoped and conditioned.
    this.key = new kms.Key(this, 'Key', {
      description: `Floodgate ${name}: dead-letter, overflow and failure queues, controller logs and environment`,
      alias: `floodgate-${name}`,
      enableKeyRotation: true,
      removalPolicy,
    });

    // An explicit name, so the key policy can name the log group without a dependency cycle.
    const logGroupName = `/floodgate/${name}/controller`;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName,
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: this.key,
      removalPolicy,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptsTheControllerLogGroup',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        // In a key policy the resource is always the key itself; `*` is the required form.
        resources: ['*'],
        conditions: {
          ArnEquals: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: logGroupName,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    this.failureQueue = new SecureQueue(this, 'Failures', { key: this.key, retention, removalPolicy }).queue;

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Floodgate ${name} controller: the protected mappings, consumers, alarms and queues only`,
    });
    this.logGroup.grantWrite(this.role);

    const queues = props.circuits.map((circuit, i) => this.addCircuitQueues(circuit, i, retention, removalPolicy));
    this.configJson = stack.toJsonString(
      controllerConfig(
        name,
        stack.account,
        stack.region,
        props.circuits.map((circuit, i) => ({ props: circuit, overflowQueueUrl: queues[i].overflowQueue.queueUrl })),
        props.controlPlaneRatePerSec,
      ),
    );
    this.controller = new lambda.Function(this, 'Controller', {
      description: `Floodgate ${name}: event-source circuit breaker controller`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: props.code,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.minutes(1),
      // The controller is the single writer of every circuit's state (tags on the mapping).
      reservedConcurrentExecutions: 1,
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: { [CONFIG_ENV]: this.configJson },
      environmentEncryption: this.key,
    });

    // Findings of the template checks that do not apply, justified where the resource is made
    // (the same reasons stand next to the Terraform module's function).
    (this.controller.node.defaultChild as lambda.CfnFunction).addMetadata('checkov', {
      skip: [
        {
          id: 'CKV_AWS_116',
          comment:
            'Failed asynchronous invocations go to the on-failure destination of the live alias (EventInvokeConfig), which records request and error; a DeadLetterConfig would duplicate it.',
        },
        {
          id: 'CKV_AWS_117',
          comment: 'The controller talks only to AWS APIs (Lambda, CloudWatch, SQS); a VPC would add NAT or endpoints and protect nothing.',
        },
      ],
    });
    // W3005: CDK makes the function depend on its role and the role's policy, so the policy
    // exists before the first invocation; the role half of that is also implied by GetAtt.
    (this.controller.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });

    this.alias = new lambda.Alias(this, 'Live', {
      aliasName: ALIAS_NAME,
      version: this.controller.currentVersion,
      onFailure: new destinations.SqsDestination(this.failureQueue),
      // Alarm events are hints and ticks repeat, so an old event is worth little.
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    });
    const aliasArn = this.alias.functionArn;
    this.alarmAction = { bind: () => ({ alarmActionArn: aliasArn }) };

    this.circuits = props.circuits.map((circuit, i) => this.addCircuitAlarms(name, circuit, queues[i]));
    this.grantControllerAccess(props.circuits);

    this.schedule = new scheduler.Schedule(this, 'Tick', {
      description: `Floodgate ${name}: periodic reconcile of every circuit`,
      schedule: scheduler.ScheduleExpression.rate(props.tickInterval ?? Duration.minutes(1)),
      target: new targets.LambdaInvoke(this.alias, {
        input: scheduler.ScheduleTargetInput.fromObject(TICK_INPUT),
        // The next tick repairs whatever a failed one missed; retries would only pile up.
        retryAttempts: 0,
        maxEventAge: Duration.minutes(1),
      }),
      key: this.key,
    });
  }

  /** The resources of the circuit named `name`. */
  public circuit(name: string): CircuitResources {
    const found = this.circuits.find((c) => c.name === name);
    if (found === undefined) {
      throw new Error(`no circuit named ${name}`);
    }
    return found;
  }

  /** The circuit's dead-letter and overflow queues, and the consumer's use of the key. */
  private addCircuitQueues(circuit: CircuitProps, index: number, retention: Duration, removalPolicy: RemovalPolicy): CircuitQueues {
    const stack = Stack.of(this);
    // Construct ids by name keep logical ids stable when circuits are reordered.
    const scope = new Construct(this, Token.isUnresolved(circuit.name) ? `Circuit${index}` : `Circuit-${circuit.name}`);
    const deadLetterQueue = new SecureQueue(scope, 'DeadLetters', {
      key: this.key,
      retention,
      removalPolicy,
      deadLetterSource: circuit.sourceQueue,
    }).queue;
    const overflowQueue = new SecureQueue(scope, 'Overflow', { key: this.key, retention, removalPolicy }).queue;

    // SQS moves a message into the dead-letter queue as the consumer that received it, so that
    // role must be able to use the key, and only through SQS.
    const consumerRole = circuit.consumerRole ?? circuit.consumer.role;
    if (consumerRole !== undefined) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `SqsMovesDeadLettersAsTheConsumerOf${index}`,
          principals: [new iam.ArnPrincipal(consumerRole.roleArn)],
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          // In a key policy the resource is always the key itself; `*` is the required form.
          resources: ['*'],
          conditions: { StringEquals: { 'kms:ViaService': `sqs.${stack.region}.${stack.urlSuffix}` } },
        }),
      );
    }
    return { scope, deadLetterQueue, overflowQueue };
  }

  /** The circuit's alarms, each allowed to invoke the alias. */
  private addCircuitAlarms(floodgateName: string, circuit: CircuitProps, queues: CircuitQueues): CircuitResources {
    const stack = Stack.of(this);
    const { scope, deadLetterQueue, overflowQueue } = queues;
    const alarms: cloudwatch.Alarm[] = [];
    const options = circuit.alarms ?? {};
    const alarmNames = circuitAlarms(floodgateName, circuit).map((alarm) => alarm.name);
    const generatedNames = new Map(generatedAlarmNames(floodgateName, circuit));
    const create = (kind: 'errors' | 'throttles' | 'depth' | 'age', metric: (o: AlarmOptions, p: Duration) => cloudwatch.IMetric) => {
      const o = options[kind];
      if (o === false) {
        return;
      }
      const opts: AlarmOptions = o ?? {};
      const period = opts.period ?? Duration.minutes(1);
      const alarm = new cloudwatch.Alarm(scope, `${kind}Alarm`, {
        alarmName: generatedNames.get(kind),
        alarmDescription: `Floodgate circuit ${circuit.name}: ${kind}`,
        metric: metric(opts, period),
        threshold: opts.threshold ?? DEFAULT_THRESHOLDS[kind],
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: opts.evaluationPeriods ?? 3,
        datapointsToAlarm: opts.datapointsToAlarm ?? 2,
        // No data means no traffic, which is healthy.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(this.alarmAction);
      alarm.addOkAction(this.alarmAction);
      alarms.push(alarm);
    };
    const metric = (namespace: string, metricName: string, statistic: string, period: Duration) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap:
          namespace === 'AWS/SQS' ? { QueueName: circuit.sourceQueue.queueName } : { FunctionName: circuit.consumer.functionName },
        statistic,
        period,
      });
    const lambdaMetric = (metricName: string, period: Duration) => metric('AWS/Lambda', metricName, cloudwatch.Stats.SUM, period);
    const queueMetric = (metricName: string, period: Duration) => metric('AWS/SQS', metricName, cloudwatch.Stats.MAXIMUM, period);
    create('errors', (o, period) => {
      const minInvocations = (o as ErrorRateAlarmOptions).minInvocations ?? DEFAULT_MIN_INVOCATIONS;
      return new cloudwatch.MathExpression({
        // A rate, and only over enough invocations that one failure is not an outage.
        expression: `IF(invocations >= ${minInvocations}, 100 * errors / invocations, 0)`,
        usingMetrics: { errors: lambdaMetric('Errors', period), invocations: lambdaMetric('Invocations', period) },
        label: 'Error rate (%)',
        period,
      });
    });
    create('throttles', (_o, period) => lambdaMetric('Throttles', period));
    create('depth', (_o, period) => queueMetric('ApproximateNumberOfMessagesVisible', period));
    create('age', (_o, period) => queueMetric('ApproximateAgeOfOldestMessage', period));

    // One permission per alarm, each naming its alarm: no other alarm, and no alarm of another
    // account, can invoke the controller.
    alarmNames.forEach((alarmName, k) => {
      this.alias.addPermission(`${scope.node.id}AlarmInvoke${k}`, {
        principal: new iam.ServicePrincipal(ALARM_ACTION_PRINCIPAL),
        action: 'lambda:InvokeFunction',
        sourceAccount: stack.account,
        sourceArn: alarmArn(stack, alarmName),
      });
    });

    return { name: circuit.name, deadLetterQueue, overflowQueue, alarms, alarmNames };
  }

  /** The controller's role: each action on the exact resources it needs, nothing else. */
  private grantControllerAccess(circuits: CircuitProps[]): void {
    const stack = Stack.of(this);
    const mappingArns = circuits.map((c) =>
      stack.formatArn({
        service: 'lambda',
        resource: 'event-source-mapping',
        resourceName: c.eventSourceMappingId,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    const consumerArns = circuits.map((c) => c.consumer.functionArn);
    const managedConsumerArns = circuits.filter((c) => c.manageReservedConcurrency !== false).map((c) => c.consumer.functionArn);
    const alarmArns = this.circuits.flatMap((c) => c.alarmNames.map((n) => alarmArn(stack, n)));
    const sourceArns = circuits.map((c) => c.sourceQueue.queueArn);
    const overflowArns = this.circuits.map((c) => c.overflowQueue.queueArn);

    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadAndActuateTheProtectedMappings',
        actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
        resources: mappingArns,
      }),
      new iam.PolicyStatement({
        sid: 'KeepCircuitStateInMappingTags',
        actions: ['lambda:ListTags', 'lambda:TagResource'],
        resources: mappingArns,
      }),
      new iam.PolicyStatement({
        sid: 'ReadConsumerReservedConcurrency',
        actions: ['lambda:GetFunctionConcurrency'],
        resources: consumerArns,
      }),
      new iam.PolicyStatement({
        sid: 'ReadAlarmStates',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarmArns,
      }),
      // A half-open circuit judges its probe by the consumer's own Invocations and Errors.
      // cloudwatch:GetMetricData defines no resource type (Service Authorization Reference,
      // "Actions, resources, and condition keys for Amazon CloudWatch"), so it takes '*'.
      new iam.PolicyStatement({
        sid: 'ReadProbeTraffic',
        actions: ['cloudwatch:GetMetricData'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'ReadSourceQueueDepth',
        actions: ['sqs:GetQueueAttributes'],
        resources: sourceArns,
      }),
      // Overflow (DESIGN "Overflow"): move the excess of a tripped circuit from its source to
      // its overflow queue, and replay it back once the circuit has been closed long enough.
      new iam.PolicyStatement({
        sid: 'MoveOverflowAndReplayIt',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:SendMessage', 'sqs:GetQueueAttributes'],
        resources: [...sourceArns, ...overflowArns],
      }),
      // Overflow messages that can never be delivered go to the circuit's dead-letter queue
      // with a reason attribute; the queue is found from the source's RedrivePolicy.
      new iam.PolicyStatement({
        sid: 'DeadLetterWithAReason',
        actions: ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:SendMessage'],
        resources: this.circuits.map((c) => c.deadLetterQueue.queueArn),
      }),
      new iam.PolicyStatement({
        sid: 'UseTheFloodgateKeyForOverflow',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.key.keyArn],
      }),
    ];
    if (managedConsumerArns.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'SetConsumerReservedConcurrency',
          actions: ['lambda:PutFunctionConcurrency'],
          resources: managedConsumerArns,
        }),
      );
    }
    // X-Ray (active tracing) adds xray:PutTraceSegments and xray:PutTelemetryRecords on `*`
    // to this role by itself: those actions support no resource-level permissions.
    statements.forEach((statement) => this.role.addToPolicy(statement));
  }
}

/** The queues of one circuit, made before the controller (whose config names them). */
interface CircuitQueues {
  readonly scope: Construct;
  readonly deadLetterQueue: sqs.Queue;
  readonly overflowQueue: sqs.Queue;
}

/** The ARN of an alarm in this stack's account and region, built from its name. */
function alarmArn(stack: Stack, alarmName: string): string {
  return stack.formatArn({
    service: 'cloudwatch',
    resource: 'alarm',
    resourceName: alarmName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
