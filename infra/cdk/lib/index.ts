export * from './props';
export { FloodgatePropsError, validateProps } from './validate';
export { CONFIG_ENV, controllerConfig } from './config';
export type { ControllerConfigDocument, ConfigAlarm } from './config';
export { SecureQueue } from './secure-queue';
export type { SecureQueueProps } from './secure-queue';
export { Floodgate, ALARM_ACTION_PRINCIPAL, ALIAS_NAME, TICK_INPUT } from './floodgate';
export type { CircuitResources } from './floodgate';
