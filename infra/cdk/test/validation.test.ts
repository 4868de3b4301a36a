import { CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import type { CircuitProps, FloodgateProps } from '../lib';
import { CircuitAction, Floodgate, FloodgatePropsError, validateProps } from '../lib';
import { AUDIT_UUID, circuit, ORDERS_UUID, PAYMENTS_UUID, placeholderCode, testStack } from './helpers';

const stack: Stack = testStack();
const code = placeholderCode();

/** Valid props with one circuit changed by `change` (and the top level by `top`). */
function props(change: Partial<CircuitProps> = {}, top: Partial<FloodgateProps> = {}): FloodgateProps {
  return { code, circuits: [circuit(stack, 'orders', ORDERS_UUID, change)], ...top };
}

const timings = (t: CircuitProps['timings']): Partial<CircuitProps> => ({ timings: t });

// One row per rule: the props that break it, and the error that must name the prop.
const cases: Array<[string, FloodgateProps, string]> = [
  ['a name with a space', props({}, { name: 'flood gate' }), 'name: must be 1 to 32 letters'],
  ['memory below 128 MB', props({}, { memorySize: 64 }), 'memorySize: must be an integer from 128 to 10240, got 64'],
  ['a timeout over 15 minutes', props({}, { timeout: Duration.minutes(16) }), 'timeout: must be from 1 second to 15 minutes'],
  ['a tick interval that is not whole minutes', props({}, { tickInterval: Duration.seconds(90) }), 'tickInterval: must be a whole number of minutes'],
  ['a control-plane rate over Lambda’s limit', props({}, { controlPlaneRatePerSec: 16 }), 'controlPlaneRatePerSec: must be an integer from 1 to 15, got 16'],
  ['a queue retention over 14 days', props({}, { queueRetention: Duration.days(15) }), 'queueRetention: must be whole seconds from 60 seconds to 14 days'],
  ['no circuit', { code, circuits: [] }, 'circuits: must name at least one circuit'],
  ['a circuit name with a slash', props({ name: 'orders/eu' }), 'circuits[0].name: must be 1 to 64 letters'],
  [
    'two circuits with one name',
    { code, circuits: [circuit(stack, 'orders', ORDERS_UUID), { ...circuit(stack, 'orders2', PAYMENTS_UUID), name: 'orders' }] },
    'circuits[1].name: duplicate circuit "orders" (also circuits[0])',
  ],
  ['a mapping id that is not a UUID', props({ eventSourceMappingId: 'orders-mapping' }), 'circuits[0].eventSourceMappingId: must be a UUID, got "orders-mapping"'],
  [
    'two circuits on one mapping',
    { code, circuits: [circuit(stack, 'orders', ORDERS_UUID), circuit(stack, 'payments', ORDERS_UUID)] },
    'circuits[1].eventSourceMappingId: duplicate mapping (also circuits[0])',
  ],
  ['a probe level below the SQS minimum', props({ levels: { max: 10, safe: 5, probe: 1 } }), 'circuits[0].levels.probe: must be an integer from 2 to 1000, got 1'],
  ['a max level over the SQS maximum', props({ levels: { max: 1001, safe: 5 } }), 'circuits[0].levels.max: must be an integer from 2 to 1000, got 1001'],
  ['a max level below the probe level', props({ levels: { max: 3, safe: 3, probe: 4 } }), 'circuits[0].levels.max: must be an integer from 4 to 1000, got 3'],
  ['a safe level above max', props({ levels: { max: 10, safe: 20 } }), 'circuits[0].levels.safe: must be an integer from 2 to 10, got 20'],
  ['a fractional level', props({ levels: { max: 10.5, safe: 5 } }), 'circuits[0].levels.max: must be an integer'],
  ['headroom over 1000', props({ headroom: 1001 }), 'circuits[0].headroom: must be an integer from 0 to 1000, got 1001'],
  ['headroom without managed reserved concurrency', props({ headroom: 1, manageReservedConcurrency: false }), 'circuits[0].headroom: only applies when manageReservedConcurrency is true'],
  ['a kill switch without managed reserved concurrency', props({ killSwitch: true, manageReservedConcurrency: false }), 'circuits[0].killSwitch: requires manageReservedConcurrency'],
  ['an unknown action', props({ actions: { depth: 'drop' as CircuitAction } }), 'circuits[0].actions.depth: must be "open" or "throttle", got "drop"'],
  ['a timing under one second', props(timings({ openWait: Duration.millis(500) })), 'circuits[0].timings.openWait: must be whole seconds from 1 to 86400, got 0.5'],
  ['a timing over a day', props(timings({ openWaitCap: Duration.hours(25) })), 'circuits[0].timings.openWaitCap: must be whole seconds from 1 to 86400, got 90000'],
  ['an open wait cap below the open wait', props(timings({ openWait: Duration.minutes(20) })), 'circuits[0].timings.openWaitCap: must be at least openWait (1200 s), got 900 s'],
  ['a jitter of 1', props(timings({ jitter: 1 })), 'circuits[0].timings.jitter: must be at least 0 and below 1, got 1'],
  ['a negative jitter', props(timings({ jitter: -0.1 })), 'circuits[0].timings.jitter: must be at least 0 and below 1, got -0.1'],
  ['a healthy dwell below the minimum dwell', props(timings({ healthyDwell: Duration.seconds(10) })), 'circuits[0].timings.healthyDwell: must be at least minDwell (30 s), got 10 s'],
  ['a probe window below the minimum dwell', props(timings({ minDwell: Duration.minutes(5) })), 'circuits[0].timings.probeWindow: must be at least minDwell (300 s), got 60 s'],
  ['a ramp step below the minimum dwell', props(timings({ rampStep: Duration.seconds(5) })), 'circuits[0].timings.rampStep: must be at least minDwell (30 s), got 5 s'],
  ['a throttle step below the minimum dwell', props(timings({ throttleStep: Duration.seconds(5) })), 'circuits[0].timings.throttleStep: must be at least minDwell (30 s), got 5 s'],
  ['a negative seed', props({ seed: -1 }), 'circuits[0].seed: must be an integer from 0 to'],
  ['an error-rate threshold over 100 %', props({ alarms: { errors: { threshold: 150 } } }), 'circuits[0].alarms.errors.threshold: must be above 0 and at most 100, got 150'],
  ['a zero threshold', props({ alarms: { depth: { threshold: 0 } } }), 'circuits[0].alarms.depth.threshold: must be above 0, got 0'],
  ['a negative minimum invocation count', props({ alarms: { errors: { minInvocations: -1 } } }), 'circuits[0].alarms.errors.minInvocations: must be an integer from 0 to'],
  ['an alarm period CloudWatch refuses', props({ alarms: { age: { period: Duration.seconds(45) } } }), 'circuits[0].alarms.age.period: must be 10 s, 30 s or a multiple of 60 s, got 45 s'],
  ['zero evaluation periods', props({ alarms: { throttles: { evaluationPeriods: 0 } } }), 'circuits[0].alarms.throttles.evaluationPeriods: must be an integer from 1 to 100, got 0'],
  ['more datapoints to alarm than periods', props({ alarms: { throttles: { evaluationPeriods: 2, datapointsToAlarm: 3 } } }), 'circuits[0].alarms.throttles.datapointsToAlarm: must be an integer from 1 to 2, got 3'],
  ['a custom alarm without a name', props({ alarms: { custom: [{ alarmName: ' ', action: CircuitAction.OPEN }] } }), 'circuits[0].alarms.custom[0].alarmName: must be 1 to 255 characters'],
  ['a custom alarm with an unknown action', props({ alarms: { custom: [{ alarmName: 'x', action: 'close' as CircuitAction }] } }), 'circuits[0].alarms.custom[0].action: must be "open" or "throttle", got "close"'],
  [
    'a circuit with no alarm at all',
    props({ alarms: { errors: false, throttles: false, depth: false, age: false } }),
    'circuits[0].alarms: must create or name at least one alarm',
  ],
  [
    'a custom alarm named like a created one',
    props({ alarms: { custom: [{ alarmName: 'floodgate-orders-errors', action: CircuitAction.OPEN }] } }),
    'circuits[0].alarms.custom[0].alarmName: duplicate alarm "floodgate-orders-errors" (also circuits[0].alarms.errors)',
  ],
  [
    'one custom alarm in two circuits',
    {
      code,
      circuits: [
        circuit(stack, 'orders', ORDERS_UUID, { alarms: { custom: [{ alarmName: 'shared', action: CircuitAction.OPEN }] } }),
        circuit(stack, 'payments', PAYMENTS_UUID, { alarms: { custom: [{ alarmName: 'shared', action: CircuitAction.OPEN }] } }),
      ],
    },
    'circuits[1].alarms.custom[0].alarmName: duplicate alarm "shared" (also circuits[0].alarms.custom[0].alarmName)',
  ],
  [
    'more than 100 alarms in a circuit',
    props({ alarms: { custom: Array.from({ length: 100 }, (_, k) => ({ alarmName: `custom-${k}`, action: CircuitAction.OPEN })) } }),
    'circuits[0].alarms: must name at most 100 alarms, got 104',
  ],
  ['a FIFO source queue', props({ sourceQueue: sqs.Queue.fromQueueArn(stack, 'Fifo', 'arn:aws:sqs:us-east-1:123456789012:orders.fifo') }), 'circuits[0].sourceQueue: must be a standard queue'],
  ['a negative overflow ceiling', props({ overflow: { ceiling: -1 } }), 'circuits[0].overflow.ceiling: must be an integer from 0 to'],
  ['a move rate over 3000 per second', props({ overflow: { moveRatePerSec: 3001 } }), 'circuits[0].overflow.moveRatePerSec: must be an integer from 1 to 3000, got 3001'],
  ['a zero replay rate', props({ overflow: { replayRatePerSec: 0 } }), 'circuits[0].overflow.replayRatePerSec: must be an integer from 1 to 3000, got 0'],
  ['more moves per invocation than a minute at the move rate', props({ overflow: { moveRatePerSec: 10, maxMovesPerInvocation: 601 } }), 'circuits[0].overflow.maxMovesPerInvocation: must be an integer from 1 to 600, got 601'],
  ['no replay per invocation', props({ overflow: { maxReplaysPerInvocation: 0 } }), 'circuits[0].overflow.maxReplaysPerInvocation: must be an integer from 1 to 3000, got 0'],
  ['a replay delay over a week', props({ overflow: { replayAfter: Duration.days(8) } }), 'circuits[0].overflow.replayAfter: must be whole seconds from 0 to 604800 (a week), got 691200'],
];

describe('each invalid prop is refused, naming the prop', () => {
  test.each(cases)('%s', (_what, invalid, expected) => {
    const errors = validateProps(invalid);
    expect(errors).toEqual(expect.arrayContaining([expect.stringContaining(expected)]));
    expect(() => new Floodgate(testStack(), 'Floodgate', invalid)).toThrow(FloodgatePropsError);
  });
});

test('valid props produce no error', () => {
  expect(validateProps(props())).toEqual([]);
});

test('every error of the props is reported together in one exception', () => {
  const invalid: FloodgateProps = {
    code,
    memorySize: 1,
    circuits: [
      circuit(stack, 'orders', 'not-a-uuid', { levels: { max: 10, safe: 20 } }),
      circuit(stack, 'audit', AUDIT_UUID, { timings: { jitter: 2 }, killSwitch: true, manageReservedConcurrency: false }),
    ],
  };
  let thrown: unknown;
  try {
    new Floodgate(testStack(), 'Floodgate', invalid);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(FloodgatePropsError);
  const errors = (thrown as FloodgatePropsError).errors;
  expect(errors.map((e) => e.split(':')[0])).toEqual([
    'memorySize',
    'circuits[0].eventSourceMappingId',
    'circuits[0].levels.safe',
    'circuits[1].killSwitch',
    'circuits[1].timings.jitter',
  ]);
  for (const error of errors) {
    expect((thrown as Error).message).toContain(error);
  }
});

test('props that are tokens are left for CloudFormation to check', () => {
  const tokenStack = testStack();
  const uuid = new CfnParameter(tokenStack, 'Uuid').valueAsString;
  const name = new CfnParameter(tokenStack, 'Name').valueAsString;
  const max = new CfnParameter(tokenStack, 'Max', { type: 'Number' }).valueAsNumber;
  expect(validateProps({ code, name, circuits: [circuit(tokenStack, 'orders', uuid, { levels: { max, safe: 2 } })] })).toEqual([]);
});
