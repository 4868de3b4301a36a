// The construct's prop checks hold the controller's own bounds: every limit and default
// validate.ts checks against is compared with the JSON Schema generated from the controller's
// configuration types (infra/config.schema.json, kept current by core/tests/config_schema.rs).
// A bound changed in Rust fails here until the construct follows.
import * as fs from 'fs';
import * as path from 'path';

import * as limits from '../lib/validate';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const schema: Json = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'config.schema.json'), 'utf8'));
const defs: Json = schema.$defs;
const circuit: Json = defs.RawCircuit.properties;
const overflow: Json = defs.RawOverflow.properties;

const TIMING_FIELDS: Record<keyof typeof limits.DEFAULT_TIMINGS_SECS, string> = {
  openWait: 'open_wait_secs',
  openWaitCap: 'open_wait_cap_secs',
  healthyDwell: 'healthy_dwell_secs',
  minDwell: 'min_dwell_secs',
  probeWindow: 'probe_window_secs',
  rampStep: 'ramp_step_secs',
  throttleStep: 'throttle_step_secs',
};

describe('the construct checks the bounds the controller accepts (infra/config.schema.json)', () => {
  test('levels', () => {
    for (const level of ['max', 'safe', 'probe']) {
      expect([level, limits.MIN_LEVEL, limits.MAX_LEVEL]).toEqual([
        level,
        defs.Levels.properties[level].minimum,
        defs.Levels.properties[level].maximum,
      ]);
    }
  });

  test('timings and their defaults', () => {
    const defaults: Json = circuit.timings.default ?? defs.Timings.default;
    for (const [prop, field] of Object.entries(TIMING_FIELDS)) {
      const bounds = defs.Timings.properties[field];
      expect([field, limits.MIN_TIMING_SECS, limits.MAX_TIMING_SECS]).toEqual([field, bounds.minimum, bounds.maximum]);
      expect([field, limits.DEFAULT_TIMINGS_SECS[prop as keyof typeof TIMING_FIELDS]]).toEqual([field, defaults[field]]);
    }
    expect(limits.DEFAULT_JITTER).toBe(defaults.jitter);
  });

  test('rates, alarms and overflow', () => {
    expect(limits.MAX_CONTROL_PLANE_RATE).toBe(schema.properties.control_plane_rate_per_sec.maximum);
    expect(limits.MAX_ALARMS_PER_CIRCUIT).toBe(circuit.alarms.maxItems);
    expect(limits.MAX_TRANSFER_RATE).toBe(overflow.move_rate_per_sec.maximum);
    expect(limits.MAX_TRANSFER_RATE).toBe(overflow.replay_rate_per_sec.maximum);
    expect(limits.MAX_REPLAY_AFTER_SECS).toBe(overflow.replay_after_secs.maximum);
    expect(limits.DEFAULT_MOVE_RATE).toBe(overflow.move_rate_per_sec.default);
    expect(limits.DEFAULT_REPLAY_RATE).toBe(overflow.replay_rate_per_sec.default);
  });
});
