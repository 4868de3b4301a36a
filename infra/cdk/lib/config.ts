import type { Duration } from 'aws-cdk-lib';

import type { CircuitProps, CircuitTimings, OverflowOptions } from './props';
import { generatedAlarmNames } from './validate';

/** The environment variable the controller reads its configuration from. */
export const CONFIG_ENV = 'FLOODGATE_CONFIG';

/** One alarm as the controller's config names it. */
export interface ConfigAlarm {
  readonly name: string;
  readonly kind: string;
  readonly action?: string;
}

/**
 * The controller configuration document (schema: `core/src/config.rs`). Optional fields are
 * written only when a prop sets them, so the controller's own defaults apply otherwise.
 */
export interface ControllerConfigDocument {
  readonly account_id: string;
  readonly region: string;
  readonly control_plane_rate_per_sec?: number;
  readonly circuits: Array<Record<string, unknown>>;
}

const TIMING_FIELDS: Array<[keyof CircuitTimings, string]> = [
  ['openWait', 'open_wait_secs'],
  ['openWaitCap', 'open_wait_cap_secs'],
  ['healthyDwell', 'healthy_dwell_secs'],
  ['minDwell', 'min_dwell_secs'],
  ['probeWindow', 'probe_window_secs'],
  ['rampStep', 'ramp_step_secs'],
  ['throttleStep', 'throttle_step_secs'],
];

/** The alarms of a circuit in config order: built-in kinds first, then custom ones. */
export function circuitAlarms(floodgateName: string, circuit: CircuitProps): ConfigAlarm[] {
  const generated: ConfigAlarm[] = generatedAlarmNames(floodgateName, circuit).map(([kind, name]) => ({ name, kind }));
  const custom: ConfigAlarm[] = (circuit.alarms?.custom ?? []).map((alarm) => ({
    name: alarm.alarmName,
    kind: 'custom',
    action: alarm.action,
  }));
  return [...generated, ...custom];
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> | undefined {
  const entries = Object.entries(record).filter(([, value]) => value !== undefined);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

function timingsDocument(timings: CircuitTimings | undefined): Record<string, unknown> | undefined {
  if (timings === undefined) {
    return undefined;
  }
  const fields: Record<string, unknown> = Object.fromEntries(
    TIMING_FIELDS.map(([prop, field]) => [field, (timings[prop] as Duration | undefined)?.toSeconds()]),
  );
  fields.jitter = timings.jitter;
  return withoutUndefined(fields);
}

function reservedConcurrency(circuit: CircuitProps): Record<string, unknown> | undefined {
  if (circuit.manageReservedConcurrency === false) {
    return { mode: 'unmanaged' };
  }
  return circuit.headroom === undefined ? undefined : { mode: 'managed', headroom: circuit.headroom };
}

function overflowDocument(queueUrl: string, overflow: OverflowOptions | undefined): Record<string, unknown> {
  const o = overflow ?? {};
  return {
    queue_url: queueUrl,
    ...withoutUndefined({
      ceiling: o.ceiling,
      move_rate_per_sec: o.moveRatePerSec,
      max_moves_per_invocation: o.maxMovesPerInvocation,
      replay_after_secs: o.replayAfter?.toSeconds(),
      replay_rate_per_sec: o.replayRatePerSec,
      max_replays_per_invocation: o.maxReplaysPerInvocation,
    }),
  };
}

/**
 * The config document for these circuits, each with the URL of its overflow queue. Values may be tokens (account, region, queue URL);
 * `Stack.toJsonString` turns the document into the environment variable.
 */
export function controllerConfig(
  floodgateName: string,
  accountId: string,
  region: string,
  circuits: Array<{ props: CircuitProps; overflowQueueUrl: string }>,
  controlPlaneRatePerSec: number | undefined,
): ControllerConfigDocument {
  const document = {
    account_id: accountId,
    region,
    control_plane_rate_per_sec: controlPlaneRatePerSec,
    circuits: circuits.map(({ props: circuit, overflowQueueUrl }) =>
      withoutUndefined({
        name: circuit.name,
        event_source_mapping_uuid: circuit.eventSourceMappingId,
        function_name: circuit.consumer.functionName,
        queue_url: circuit.sourceQueue.queueUrl,
        alarms: circuitAlarms(floodgateName, circuit),
        levels: withoutUndefined({ ...circuit.levels }),
        reserved_concurrency: reservedConcurrency(circuit),
        kill_switch: circuit.killSwitch,
        actions: withoutUndefined({ ...circuit.actions }),
        timings: timingsDocument(circuit.timings),
        seed: circuit.seed,
        overflow: overflowDocument(overflowQueueUrl, circuit.overflow),
      }) ?? {},
    ),
  };
  return withoutUndefined(document) as unknown as ControllerConfigDocument;
}
