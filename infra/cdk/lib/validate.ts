import { Duration, Token } from 'aws-cdk-lib';

import type { AlarmOptions, CircuitProps, CircuitTimings, FloodgateProps, OverflowOptions } from './props';
import { CircuitAction } from './props';

// These mirror the controller's limits (core/src/policy/config.rs and core/src/config.rs);
// checking them at synth time turns a controller init failure after deploy into a synth error.
// test/schema.test.ts checks every bound and default here against the JSON Schema generated
// from the controller's configuration types (infra/config.schema.json), and the config test
// (tests/tests/infra_config.rs) runs the controller's loader on what the construct renders.
export const MIN_LEVEL = 2;
export const MAX_LEVEL = 1000;
export const MIN_TIMING_SECS = 1;
export const MAX_TIMING_SECS = 24 * 60 * 60;
export const MAX_CONTROL_PLANE_RATE = 15;
export const MAX_ALARMS_PER_CIRCUIT = 100;

/** The controller's defaults, used to check relations between timings a user set only partly. */
export const DEFAULT_TIMINGS_SECS = {
  openWait: 60,
  openWaitCap: 900,
  healthyDwell: 120,
  minDwell: 30,
  probeWindow: 60,
  rampStep: 60,
  throttleStep: 60,
} as const;
export const DEFAULT_JITTER = 0.2;
export const MAX_TRANSFER_RATE = 3000;
export const MAX_TRANSFER_SECS = 60;
export const MAX_REPLAY_AFTER_SECS = 7 * 24 * 3600;
export const DEFAULT_MOVE_RATE = 100;
export const DEFAULT_REPLAY_RATE = 50;

const CIRCUIT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const FLOODGATE_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Every prop error of a {@link Floodgate}, reported together.
 */
export class FloodgatePropsError extends Error {
  /** One line per error, each naming the prop (`circuits[0].levels.safe: ...`). */
  public readonly errors: string[];

  constructor(errors: string[]) {
    super(`Invalid Floodgate props (${errors.length} errors):\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    this.name = 'FloodgatePropsError';
    this.errors = errors;
  }
}

/** Collects errors with the path of the prop they are about. */
class Errors {
  readonly list: string[] = [];

  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }

  /** Checks an integer in `[min, max]`; tokens are checked by CloudFormation, not here. */
  integer(path: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined || Token.isUnresolved(value)) {
      return;
    }
    if (!Number.isInteger(value) || value < min || value > max) {
      this.add(path, `must be an integer from ${min} to ${max}, got ${value}`);
    }
  }
}

/** Whole seconds of a duration, or undefined when it is unset or unresolved. */
function seconds(value: Duration | undefined): number | undefined {
  if (value === undefined || value.isUnresolved()) {
    return undefined;
  }
  return value.toSeconds({ integral: false });
}

function concrete(value: string): boolean {
  return !Token.isUnresolved(value);
}

/**
 * The names of the alarms Floodgate creates for a circuit, by kind, in config order.
 */
export function generatedAlarmNames(floodgateName: string, circuit: CircuitProps): Array<[string, string]> {
  const kinds = ['errors', 'throttles', 'depth', 'age'] as const;
  return kinds
    .filter((kind) => circuit.alarms?.[kind] !== false)
    .map((kind) => [kind, `${floodgateName}-${circuit.name}-${kind}`]);
}

/**
 * Checks props against the controller's rules and CloudWatch's, returning every error.
 */
export function validateProps(props: FloodgateProps): string[] {
  const errors = new Errors();
  const name = props.name ?? 'floodgate';
  if (concrete(name) && !FLOODGATE_NAME.test(name)) {
    errors.add('name', `must be 1 to 32 letters, digits, "_" or "-", got ${JSON.stringify(name)}`);
  }
  errors.integer('memorySize', props.memorySize, 128, 10240);
  const timeout = seconds(props.timeout);
  if (timeout !== undefined && (timeout < 1 || timeout > 900)) {
    errors.add('timeout', `must be from 1 second to 15 minutes, got ${timeout} seconds`);
  }
  const tick = seconds(props.tickInterval);
  if (tick !== undefined && (tick < 60 || tick % 60 !== 0)) {
    errors.add('tickInterval', `must be a whole number of minutes (at least 1), got ${tick} seconds`);
  }
  errors.integer('controlPlaneRatePerSec', props.controlPlaneRatePerSec, 1, MAX_CONTROL_PLANE_RATE);
  const retention = seconds(props.queueRetention);
  if (retention !== undefined && (retention < 60 || retention > 14 * 86400 || !Number.isInteger(retention))) {
    errors.add('queueRetention', `must be whole seconds from 60 seconds to 14 days, got ${retention} seconds`);
  }

  if (props.circuits.length === 0) {
    errors.add('circuits', 'must name at least one circuit');
  }
  const circuitNames = new Map<string, number>();
  const mappings = new Map<string, number>();
  const alarmNames = new Map<string, string>();
  props.circuits.forEach((circuit, i) => {
    const path = `circuits[${i}]`;
    if (concrete(circuit.name)) {
      if (!CIRCUIT_NAME.test(circuit.name)) {
        errors.add(`${path}.name`, `must be 1 to 64 letters, digits, ".", "_" or "-", got ${JSON.stringify(circuit.name)}`);
      }
      const first = circuitNames.get(circuit.name);
      if (first !== undefined) {
        errors.add(`${path}.name`, `duplicate circuit ${JSON.stringify(circuit.name)} (also circuits[${first}])`);
      } else {
        circuitNames.set(circuit.name, i);
      }
    }
    const uuid = circuit.eventSourceMappingId;
    if (concrete(uuid)) {
      if (!UUID.test(uuid)) {
        errors.add(`${path}.eventSourceMappingId`, `must be a UUID, got ${JSON.stringify(uuid)}`);
      }
      const first = mappings.get(uuid);
      if (first !== undefined) {
        errors.add(`${path}.eventSourceMappingId`, `duplicate mapping (also circuits[${first}])`);
      } else {
        mappings.set(uuid, i);
      }
    }
    validateLevels(errors, path, circuit);
    errors.integer(`${path}.headroom`, circuit.headroom, 0, MAX_LEVEL);
    if (circuit.killSwitch === true && circuit.manageReservedConcurrency === false) {
      errors.add(`${path}.killSwitch`, 'requires manageReservedConcurrency (the kill switch sets reserved concurrency to 0)');
    }
    if (circuit.headroom !== undefined && circuit.manageReservedConcurrency === false) {
      errors.add(`${path}.headroom`, 'only applies when manageReservedConcurrency is true');
    }
    for (const [kind, action] of Object.entries(circuit.actions ?? {})) {
      if (action !== undefined && !Object.values(CircuitAction).includes(action)) {
        errors.add(`${path}.actions.${kind}`, `must be "open" or "throttle", got ${JSON.stringify(action)}`);
      }
    }
    validateTimings(errors, `${path}.timings`, circuit.timings ?? {});
    errors.integer(`${path}.seed`, circuit.seed, 0, Number.MAX_SAFE_INTEGER);
    validateAlarms(errors, path, name, circuit, alarmNames);
    if (circuit.sourceQueue.fifo) {
      errors.add(`${path}.sourceQueue`, 'must be a standard queue: moving messages to the overflow queue and back would break FIFO order and deduplication');
    }
    validateOverflow(errors, `${path}.overflow`, circuit.overflow ?? {});
  });
  return errors.list;
}

function validateLevels(errors: Errors, path: string, circuit: CircuitProps): void {
  const { max, safe } = circuit.levels;
  const probe = circuit.levels.probe ?? MIN_LEVEL;
  errors.integer(`${path}.levels.probe`, probe, MIN_LEVEL, MAX_LEVEL);
  if (!Number.isInteger(probe)) {
    return;
  }
  errors.integer(`${path}.levels.max`, max, probe, MAX_LEVEL);
  if (Number.isInteger(max) && max >= probe) {
    errors.integer(`${path}.levels.safe`, safe, probe, max);
  }
}

function validateTimings(errors: Errors, path: string, timings: CircuitTimings): void {
  const secs: Record<keyof typeof DEFAULT_TIMINGS_SECS, number> = { ...DEFAULT_TIMINGS_SECS };
  for (const key of Object.keys(DEFAULT_TIMINGS_SECS) as Array<keyof typeof DEFAULT_TIMINGS_SECS>) {
    const value = seconds(timings[key]);
    if (value === undefined) {
      continue;
    }
    if (!Number.isInteger(value) || value < MIN_TIMING_SECS || value > MAX_TIMING_SECS) {
      errors.add(`${path}.${key}`, `must be whole seconds from ${MIN_TIMING_SECS} to ${MAX_TIMING_SECS}, got ${value}`);
      continue;
    }
    secs[key] = value;
  }
  if (timings.openWaitCap !== undefined || timings.openWait !== undefined) {
    if (secs.openWaitCap < secs.openWait) {
      errors.add(`${path}.openWaitCap`, `must be at least openWait (${secs.openWait} s), got ${secs.openWaitCap} s`);
    }
  }
  const jitter = timings.jitter;
  if (jitter !== undefined && !Token.isUnresolved(jitter) && !(jitter >= 0 && jitter < 1)) {
    errors.add(`${path}.jitter`, `must be at least 0 and below 1, got ${jitter}`);
  }
  // Every relaxing transition waits at least minDwell; these windows must not promise less.
  for (const key of ['healthyDwell', 'probeWindow', 'rampStep', 'throttleStep'] as const) {
    if ((timings[key] !== undefined || timings.minDwell !== undefined) && secs[key] < secs.minDwell) {
      errors.add(`${path}.${key}`, `must be at least minDwell (${secs.minDwell} s), got ${secs[key]} s`);
    }
  }
}

function validateAlarmOptions(errors: Errors, path: string, options: AlarmOptions, maxThreshold?: number): void {
  const threshold = options.threshold;
  if (threshold !== undefined && !Token.isUnresolved(threshold)) {
    if (!(threshold > 0) || (maxThreshold !== undefined && threshold > maxThreshold)) {
      errors.add(`${path}.threshold`, `must be above 0${maxThreshold === undefined ? '' : ` and at most ${maxThreshold}`}, got ${threshold}`);
    }
  }
  const period = seconds(options.period);
  if (period !== undefined && !(period === 10 || period === 30 || (period >= 60 && period % 60 === 0))) {
    errors.add(`${path}.period`, `must be 10 s, 30 s or a multiple of 60 s, got ${period} s`);
  }
  const evaluation = options.evaluationPeriods ?? 3;
  errors.integer(`${path}.evaluationPeriods`, options.evaluationPeriods, 1, 100);
  if (Number.isInteger(evaluation)) {
    errors.integer(`${path}.datapointsToAlarm`, options.datapointsToAlarm, 1, evaluation);
  }
}

function validateAlarms(errors: Errors, path: string, floodgateName: string, circuit: CircuitProps, seen: Map<string, string>): void {
  const alarms = circuit.alarms ?? {};
  if (alarms.errors) {
    validateAlarmOptions(errors, `${path}.alarms.errors`, alarms.errors, 100);
    errors.integer(`${path}.alarms.errors.minInvocations`, alarms.errors.minInvocations, 0, Number.MAX_SAFE_INTEGER);
  }
  for (const kind of ['throttles', 'depth', 'age'] as const) {
    const options = alarms[kind];
    if (options) {
      validateAlarmOptions(errors, `${path}.alarms.${kind}`, options);
    }
  }
  const named: Array<[string, string]> = generatedAlarmNames(floodgateName, circuit).map(([kind, alarm]) => [`${path}.alarms.${kind}`, alarm]);
  (alarms.custom ?? []).forEach((custom, k) => {
    const where = `${path}.alarms.custom[${k}]`;
    if (concrete(custom.alarmName) && (custom.alarmName.trim() === '' || [...custom.alarmName].length > 255)) {
      errors.add(`${where}.alarmName`, 'must be 1 to 255 characters');
    }
    if (!Object.values(CircuitAction).includes(custom.action)) {
      errors.add(`${where}.action`, `must be "open" or "throttle", got ${JSON.stringify(custom.action)}`);
    }
    named.push([`${where}.alarmName`, custom.alarmName]);
  });
  if (named.length === 0) {
    errors.add(`${path}.alarms`, 'must create or name at least one alarm');
  }
  if (named.length > MAX_ALARMS_PER_CIRCUIT) {
    errors.add(`${path}.alarms`, `must name at most ${MAX_ALARMS_PER_CIRCUIT} alarms, got ${named.length}`);
  }
  for (const [where, alarm] of named) {
    // Created names cannot outgrow CloudWatch's 255 characters: the name (32) and circuit
    // name (64) limits keep them under 110.
    if (!concrete(alarm)) {
      continue;
    }
    const first = seen.get(alarm);
    if (first !== undefined) {
      errors.add(where, `duplicate alarm ${JSON.stringify(alarm)} (also ${first}): an alarm belongs to one circuit`);
    } else {
      seen.set(alarm, where);
    }
  }
}

function validateOverflow(errors: Errors, path: string, overflow: OverflowOptions): void {
  errors.integer(`${path}.ceiling`, overflow.ceiling, 0, Number.MAX_SAFE_INTEGER);
  errors.integer(`${path}.moveRatePerSec`, overflow.moveRatePerSec, 1, MAX_TRANSFER_RATE);
  errors.integer(`${path}.replayRatePerSec`, overflow.replayRatePerSec, 1, MAX_TRANSFER_RATE);
  // A move or replay must fit in one invocation at its rate: the controller serves every
  // circuit one after another within one Lambda timeout.
  const moveRate = overflow.moveRatePerSec ?? DEFAULT_MOVE_RATE;
  if (Number.isInteger(moveRate)) {
    errors.integer(`${path}.maxMovesPerInvocation`, overflow.maxMovesPerInvocation, 1, moveRate * MAX_TRANSFER_SECS);
  }
  const replayRate = overflow.replayRatePerSec ?? DEFAULT_REPLAY_RATE;
  if (Number.isInteger(replayRate)) {
    errors.integer(`${path}.maxReplaysPerInvocation`, overflow.maxReplaysPerInvocation, 1, replayRate * MAX_TRANSFER_SECS);
  }
  const replayAfter = seconds(overflow.replayAfter);
  if (replayAfter !== undefined && (!Number.isInteger(replayAfter) || replayAfter < 0 || replayAfter > MAX_REPLAY_AFTER_SECS)) {
    errors.add(`${path}.replayAfter`, `must be whole seconds from 0 to ${MAX_REPLAY_AFTER_SECS} (a week), got ${replayAfter}`);
  }
}
