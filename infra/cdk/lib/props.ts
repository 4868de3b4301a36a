import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * What an alarm in ALARM does to its circuit. `errors` alarms always open the circuit.
 */
export enum CircuitAction {
  /** Disable the event source mapping. */
  OPEN = 'open',
  /** Lower the mapping's `MaximumConcurrency` (halved on every new signal, never below `probe`). */
  THROTTLE = 'throttle',
}

/**
 * The `MaximumConcurrency` levels of a circuit (SQS mappings accept 2 to 1000).
 */
export interface CircuitLevels {
  /** Normal `MaximumConcurrency`. */
  readonly max: number;
  /** `MaximumConcurrency` when a throttle signal first fires (the flood level). */
  readonly safe: number;
  /**
   * `MaximumConcurrency` while probing after an open circuit.
   * @default 2 (the SQS minimum)
   */
  readonly probe?: number;
}

/**
 * What the configurable alarm kinds do.
 */
export interface CircuitActions {
  /** @default CircuitAction.THROTTLE */
  readonly throttles?: CircuitAction;
  /** @default CircuitAction.THROTTLE */
  readonly depth?: CircuitAction;
  /** @default CircuitAction.THROTTLE */
  readonly age?: CircuitAction;
}

/**
 * The timings of a circuit, in whole seconds from 1 s to 24 h.
 */
export interface CircuitTimings {
  /**
   * Open wait after the first trip; doubles with each re-trip.
   * @default Duration.minutes(1)
   */
  readonly openWait?: Duration;
  /**
   * Ceiling of the open wait; at least `openWait`.
   * @default Duration.minutes(15)
   */
  readonly openWaitCap?: Duration;
  /**
   * The open wait is stretched by a reproducible fraction in `[0, jitter)`; below 1.
   * @default 0.2
   */
  readonly jitter?: number;
  /**
   * Alarms must be healthy this long before the circuit leaves Open or Throttled; at least `minDwell`.
   * @default Duration.minutes(2)
   */
  readonly healthyDwell?: Duration;
  /**
   * Minimum time in every state before relaxing out of it.
   * @default Duration.seconds(30)
   */
  readonly minDwell?: Duration;
  /**
   * Healthy time in HalfOpen before ramping; at least `minDwell`.
   * @default Duration.minutes(1)
   */
  readonly probeWindow?: Duration;
  /**
   * Ramping doubles the level after this long healthy; at least `minDwell`.
   * @default Duration.minutes(1)
   */
  readonly rampStep?: Duration;
  /**
   * Throttled halves the level at most once per step; at least `minDwell`.
   * @default Duration.minutes(1)
   */
  readonly throttleStep?: Duration;
}

/**
 * How the controller moves the excess of a tripped circuit's source queue to the circuit's
 * overflow queue, and replays it once the circuit has recovered (`core/src/overflow/mod.rs`).
 */
export interface OverflowOptions {
  /**
   * Visible messages the source may keep while the circuit is tripped; the excess is moved.
   * @default 1000
   */
  readonly ceiling?: number;
  /**
   * Messages moved to the overflow queue per second (1 to 3000).
   * @default 100
   */
  readonly moveRatePerSec?: number;
  /**
   * Most messages moved per invocation: at least 1, at most 60 seconds' worth at `moveRatePerSec`.
   * @default 1000
   */
  readonly maxMovesPerInvocation?: number;
  /**
   * How long the circuit must have been Closed before the overflow is replayed (at most a week).
   * @default Duration.minutes(2)
   */
  readonly replayAfter?: Duration;
  /**
   * Messages replayed to the source per second (1 to 3000).
   * @default 50
   */
  readonly replayRatePerSec?: number;
  /**
   * Most messages replayed per invocation: at least 1, at most 60 seconds' worth at
   * `replayRatePerSec`. Keep it small: a trip stops replay at the latest one invocation later.
   * @default 500
   */
  readonly maxReplaysPerInvocation?: number;
}

/**
 * How a CloudWatch alarm of a circuit evaluates.
 */
export interface AlarmOptions {
  /**
   * The threshold the statistic is compared with (`>=`).
   * @default - per kind: throttles 1, depth 1000 messages, age 300 seconds
   */
  readonly threshold?: number;
  /**
   * The period of each datapoint: 10 s, 30 s or a multiple of 60 s.
   * @default Duration.minutes(1)
   */
  readonly period?: Duration;
  /**
   * How many recent periods are evaluated.
   * @default 3
   */
  readonly evaluationPeriods?: number;
  /**
   * How many of those must breach to go to ALARM; at most `evaluationPeriods`.
   * @default 2
   */
  readonly datapointsToAlarm?: number;
}

/**
 * The error-rate alarm: `100 * Errors / Invocations`, computed by metric math.
 */
export interface ErrorRateAlarmOptions extends AlarmOptions {
  /**
   * The error rate in percent (`> 0`, `<= 100`) at or above which the alarm fires. The
   * default matches the controller's `probe_max_error_ratio` (0.5): a probe passes at the
   * rate that does not trip.
   * @default 50
   */
  readonly threshold?: number;
  /**
   * Periods with fewer invocations than this count as healthy, so one failure out of two
   * invocations cannot open the circuit.
   * @default 10
   */
  readonly minInvocations?: number;
}

/**
 * An alarm the user owns whose state the circuit also obeys.
 */
export interface CustomAlarm {
  /**
   * The alarm's name (in this account and region). Add the construct's `alarmAction` to its
   * ALARM and OK actions; the permission to invoke the controller is already in place.
   */
  readonly alarmName: string;
  /** What the alarm does to the circuit while in ALARM. */
  readonly action: CircuitAction;
}

/**
 * Which alarms a circuit gets. Each built-in kind is created unless set to `false`.
 */
export interface CircuitAlarms {
  /**
   * The consumer's error rate; opens the circuit.
   * @default - created with the defaults of ErrorRateAlarmOptions
   */
  readonly errors?: ErrorRateAlarmOptions | false;
  /**
   * The consumer's throttles (Sum of `Throttles`).
   * @default - created with the defaults of AlarmOptions (threshold 1)
   */
  readonly throttles?: AlarmOptions | false;
  /**
   * The source queue's depth (Maximum of `ApproximateNumberOfMessagesVisible`).
   * @default - created with the defaults of AlarmOptions (threshold 1000 messages)
   */
  readonly depth?: AlarmOptions | false;
  /**
   * The age of the source queue's oldest message (Maximum of `ApproximateAgeOfOldestMessage`, seconds).
   * @default - created with the defaults of AlarmOptions (threshold 300 seconds)
   */
  readonly age?: AlarmOptions | false;
  /**
   * Alarms you own that also drive the circuit.
   * @default - none
   */
  readonly custom?: CustomAlarm[];
}

/**
 * One circuit: a protected event source mapping (referenced, not owned), its consumer
 * function, its SQS source queue, its alarms and its policy.
 */
export interface CircuitProps {
  /** The circuit's name: letters, digits, `.`, `_`, `-`; at most 64 characters; unique. */
  readonly name: string;
  /** The UUID of the protected event source mapping; unique. */
  readonly eventSourceMappingId: string;
  /** The function the mapping invokes (e.g. `lambda.Function.fromFunctionName(...)`). */
  readonly consumer: lambda.IFunction;
  /** The mapping's SQS source queue, a standard queue (e.g. `sqs.Queue.fromQueueArn(...)`). */
  readonly sourceQueue: sqs.IQueue;
  /**
   * The role that consumes the source queue. It is allowed to use the Floodgate key through
   * SQS, which SQS needs to move a message into the encrypted dead-letter queue.
   * @default - the consumer's role when it is known; otherwise grant it yourself
   */
  readonly consumerRole?: iam.IRole;
  /** Concurrency levels. */
  readonly levels: CircuitLevels;
  /**
   * Whether the controller sets the consumer's reserved concurrency (level + headroom).
   * @default true
   */
  readonly manageReservedConcurrency?: boolean;
  /**
   * Reserved concurrency above the mapping's share, for other invokers (0 to 1000).
   * @default 0
   */
  readonly headroom?: number;
  /**
   * Open sets reserved concurrency to 0, so nothing can invoke the consumer at all. Needs
   * `manageReservedConcurrency`.
   * @default false
   */
  readonly killSwitch?: boolean;
  /**
   * What the throttles, depth and age alarms do.
   * @default - each throttles the circuit
   */
  readonly actions?: CircuitActions;
  /**
   * Waits and dwells.
   * @default - the defaults of CircuitTimings
   */
  readonly timings?: CircuitTimings;
  /**
   * Seed of the open-wait jitter, so decisions are reproducible (a non-negative integer).
   * @default 0
   */
  readonly seed?: number;
  /**
   * Which alarms to create, and how they evaluate.
   * @default - errors, throttles, depth and age alarms with their defaults
   */
  readonly alarms?: CircuitAlarms;
  /**
   * How the excess of the source queue goes to the circuit's overflow queue and comes back.
   * @default - the defaults of OverflowOptions
   */
  readonly overflow?: OverflowOptions;
}

/**
 * Properties of {@link Floodgate}.
 */
export interface FloodgateProps {
  /**
   * The controller package: the zip built by `scripts/build-controller`, e.g.
   * `lambda.Code.fromAsset('target/lambda/controller-arm64/bootstrap.zip')`.
   */
  readonly code: lambda.Code;
  /** The circuits, at least one. */
  readonly circuits: CircuitProps[];
  /**
   * Prefix of the alarm names, the log group name and the key alias; unique per account and
   * region. Letters, digits, `_` and `-`, at most 32 characters.
   * @default 'floodgate'
   */
  readonly name?: string;
  /**
   * The controller's architecture; must match the package.
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;
  /**
   * The controller's memory in MB (128 to 10240).
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * The controller's timeout (at most 15 minutes).
   * @default Duration.minutes(1)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the controller's logs.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * How often the scheduler ticks the controller (whole minutes).
   * @default Duration.minutes(1)
   */
  readonly tickInterval?: Duration;
  /**
   * Lambda control-plane calls per second, all circuits together (1 to 15).
   * @default 5 (the controller's default)
   */
  readonly controlPlaneRatePerSec?: number;
  /**
   * How long the dead-letter, overflow and failure queues keep a message (60 s to 14 days).
   * @default Duration.days(14)
   */
  readonly queueRetention?: Duration;
  /**
   * What happens to the key, the queues and the log group when they leave the stack.
   * Queues may hold messages nobody else has, so they are kept by default.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}
