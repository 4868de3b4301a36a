# Inputs of the Floodgate module. Every rule the controller enforces at start-up
# (core/src/config.rs) is checked here too, so a bad value fails `terraform plan` instead of
# the controller's cold start. Each message names the field and the offending circuits.
# tests/test_schema_bounds.py checks the bounds and defaults written here against the JSON
# Schema generated from the controller's configuration types (infra/config.schema.json).

variable "name" {
  description = "Prefix of every resource name (alarms, function, log group, schedule, queues); unique per account and region."
  type        = string
  default     = "floodgate"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,32}$", var.name))
    error_message = "name: must be 1 to 32 letters, digits, \"_\" or \"-\", got \"${var.name}\"."
  }
}

variable "controller_zip" {
  description = "Path of the controller package built by scripts/build-controller (bootstrap at the root), e.g. target/lambda/controller-arm64/bootstrap.zip."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.controller_zip))
    error_message = "controller_zip: must be the path of a .zip file, got \"${var.controller_zip}\"."
  }
}

variable "architecture" {
  description = "The controller's architecture; must match the package."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: must be \"arm64\" or \"x86_64\", got \"${var.architecture}\"."
  }
}

variable "memory_size" {
  description = "The controller's memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size: must be an integer from 128 to 10240, got ${var.memory_size}."
  }
}

variable "timeout_secs" {
  description = "The controller's timeout in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_secs >= 1 && var.timeout_secs <= 900 && floor(var.timeout_secs) == var.timeout_secs
    error_message = "timeout_secs: must be an integer from 1 to 900, got ${var.timeout_secs}."
  }
}

variable "log_retention_days" {
  description = "Retention of the controller's logs, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: must be one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653), got ${var.log_retention_days}."
  }
}

variable "tick_interval_minutes" {
  description = "How often the scheduler ticks the controller, in minutes."
  type        = number
  default     = 1

  validation {
    condition     = var.tick_interval_minutes >= 1 && floor(var.tick_interval_minutes) == var.tick_interval_minutes
    error_message = "tick_interval_minutes: must be a whole number of minutes, at least 1, got ${var.tick_interval_minutes}."
  }
}

variable "control_plane_rate_per_sec" {
  description = "Lambda control-plane calls per second, all circuits together; null keeps the controller's default (5)."
  type        = number
  default     = null

  validation {
    condition     = var.control_plane_rate_per_sec == null || try(var.control_plane_rate_per_sec >= 1 && var.control_plane_rate_per_sec <= 15 && floor(var.control_plane_rate_per_sec) == var.control_plane_rate_per_sec, false)
    error_message = "control_plane_rate_per_sec: must be an integer from 1 to 15 (Lambda's per-account limit)."
  }
}

variable "queue_retention_secs" {
  description = "How long the dead-letter, overflow and failure queues keep a message, in seconds."
  type        = number
  default     = 1209600

  validation {
    condition     = var.queue_retention_secs >= 60 && var.queue_retention_secs <= 1209600 && floor(var.queue_retention_secs) == var.queue_retention_secs
    error_message = "queue_retention_secs: must be an integer from 60 to 1209600 (14 days), got ${var.queue_retention_secs}."
  }
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "circuits" {
  description = <<-EOT
    The circuits, at least one. Each protects one existing event source mapping (referenced,
    not owned) of one consumer function on one SQS queue. See README.md for every field;
    optional fields left null keep the controller's defaults.
  EOT
  type = list(object({
    name                        = string
    event_source_mapping_uuid   = string
    function_name               = string
    source_queue_arn            = string
    consumer_role_arn           = optional(string)
    levels                      = object({ max = number, safe = number, probe = optional(number) })
    manage_reserved_concurrency = optional(bool, true)
    headroom                    = optional(number)
    kill_switch                 = optional(bool)
    actions = optional(object({
      throttles = optional(string)
      depth     = optional(string)
      age       = optional(string)
    }), {})
    timings = optional(object({
      open_wait_secs     = optional(number)
      open_wait_cap_secs = optional(number)
      jitter             = optional(number)
      healthy_dwell_secs = optional(number)
      min_dwell_secs     = optional(number)
      probe_window_secs  = optional(number)
      ramp_step_secs     = optional(number)
      throttle_step_secs = optional(number)
    }), {})
    seed = optional(number)
    alarms = optional(object({
      errors = optional(object({
        enabled             = optional(bool, true)
        threshold           = optional(number, 50)
        min_invocations     = optional(number, 10)
        period_secs         = optional(number, 60)
        evaluation_periods  = optional(number, 3)
        datapoints_to_alarm = optional(number, 2)
      }), {})
      throttles = optional(object({
        enabled             = optional(bool, true)
        threshold           = optional(number, 1)
        period_secs         = optional(number, 60)
        evaluation_periods  = optional(number, 3)
        datapoints_to_alarm = optional(number, 2)
      }), {})
      depth = optional(object({
        enabled             = optional(bool, true)
        threshold           = optional(number, 1000)
        period_secs         = optional(number, 60)
        evaluation_periods  = optional(number, 3)
        datapoints_to_alarm = optional(number, 2)
      }), {})
      age = optional(object({
        enabled             = optional(bool, true)
        threshold           = optional(number, 300)
        period_secs         = optional(number, 60)
        evaluation_periods  = optional(number, 3)
        datapoints_to_alarm = optional(number, 2)
      }), {})
      custom = optional(list(object({
        alarm_name = string
        action     = string
      })), [])
    }), {})
    overflow = optional(object({
      ceiling                    = optional(number)
      move_rate_per_sec          = optional(number)
      max_moves_per_invocation   = optional(number)
      replay_after_secs          = optional(number)
      replay_rate_per_sec        = optional(number)
      max_replays_per_invocation = optional(number)
    }), {})
  }))

  validation {
    condition     = length(var.circuits) >= 1
    error_message = "circuits: must name at least one circuit."
  }
  validation {
    condition     = alltrue([for c in var.circuits : can(regex("^[A-Za-z0-9._-]{1,64}$", c.name))])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !can(regex("^[A-Za-z0-9._-]{1,64}$", c.name))])}].name: must be 1 to 64 letters, digits, \".\", \"_\" or \"-\"."
  }
  validation {
    condition     = length(distinct([for c in var.circuits : c.name])) == length(var.circuits)
    error_message = "circuits[*].name: must be unique."
  }
  validation {
    condition     = alltrue([for c in var.circuits : can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", c.event_source_mapping_uuid))])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", c.event_source_mapping_uuid))])}].event_source_mapping_uuid: must be a UUID."
  }
  validation {
    condition     = length(distinct([for c in var.circuits : lower(c.event_source_mapping_uuid)])) == length(var.circuits)
    error_message = "circuits[*].event_source_mapping_uuid: must be unique (one circuit per mapping)."
  }
  validation {
    condition     = alltrue([for c in var.circuits : length(trimspace(c.function_name)) > 0])
    error_message = "circuits[*].function_name: must not be empty."
  }
  validation {
    condition     = alltrue([for c in var.circuits : can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", c.source_queue_arn))])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", c.source_queue_arn))])}].source_queue_arn: must be the ARN of a standard SQS queue (FIFO queues cannot overflow: moving messages out and back would break their order)."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.consumer_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", c.consumer_role_arn))])
    error_message = "circuits[*].consumer_role_arn: must be null or the ARN of an IAM role."
  }
  validation {
    condition     = alltrue([for c in var.circuits : try(coalesce(c.levels.probe, 2) >= 2 && coalesce(c.levels.probe, 2) <= 1000 && floor(coalesce(c.levels.probe, 2)) == coalesce(c.levels.probe, 2), false)])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !try(coalesce(c.levels.probe, 2) >= 2 && coalesce(c.levels.probe, 2) <= 1000 && floor(coalesce(c.levels.probe, 2)) == coalesce(c.levels.probe, 2), false)])}].levels.probe: must be an integer from 2 to 1000."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.levels.max >= coalesce(c.levels.probe, 2) && c.levels.max <= 1000 && floor(c.levels.max) == c.levels.max])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !(c.levels.max >= coalesce(c.levels.probe, 2) && c.levels.max <= 1000 && floor(c.levels.max) == c.levels.max)])}].levels.max: must be an integer from levels.probe to 1000."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.levels.safe >= coalesce(c.levels.probe, 2) && c.levels.safe <= c.levels.max && floor(c.levels.safe) == c.levels.safe])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !(c.levels.safe >= coalesce(c.levels.probe, 2) && c.levels.safe <= c.levels.max && floor(c.levels.safe) == c.levels.safe)])}].levels.safe: must be an integer from levels.probe to levels.max."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.headroom == null || try(c.headroom >= 0 && c.headroom <= 1000 && floor(c.headroom) == c.headroom, false)])
    error_message = "circuits[*].headroom: must be an integer from 0 to 1000."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.manage_reserved_concurrency || c.headroom == null])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !(c.manage_reserved_concurrency || c.headroom == null)])}].headroom: only applies when manage_reserved_concurrency is true."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.manage_reserved_concurrency || c.kill_switch != true])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if !(c.manage_reserved_concurrency || c.kill_switch != true)])}].kill_switch: requires manage_reserved_concurrency (the kill switch sets reserved concurrency to 0)."
  }
  validation {
    condition     = alltrue(flatten([for c in var.circuits : [for a in values(c.actions) : a == null ? true : contains(["open", "throttle"], a)]]))
    error_message = "circuits[*].actions: each of throttles, depth and age must be \"open\" or \"throttle\"."
  }
  validation {
    condition     = alltrue(flatten([for c in var.circuits : [for k, v in c.timings : v == null || try(v >= 1 && v <= 86400 && floor(v) == v, false) if k != "jitter"]]))
    error_message = "circuits[*].timings: every *_secs must be an integer from 1 to 86400."
  }
  validation {
    condition     = alltrue([for c in var.circuits : coalesce(c.timings.open_wait_cap_secs, 900) >= coalesce(c.timings.open_wait_secs, 60)])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if coalesce(c.timings.open_wait_cap_secs, 900) < coalesce(c.timings.open_wait_secs, 60)])}].timings.open_wait_cap_secs: must be at least open_wait_secs (default 60; the cap defaults to 900)."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.timings.jitter == null || try(c.timings.jitter >= 0 && c.timings.jitter < 1, false)])
    error_message = "circuits[*].timings.jitter: must be at least 0 and below 1."
  }
  validation {
    # Every relaxing transition waits at least min_dwell; these windows must not promise less.
    condition = alltrue([for c in var.circuits : alltrue([
      coalesce(c.timings.healthy_dwell_secs, 120) >= coalesce(c.timings.min_dwell_secs, 30),
      coalesce(c.timings.probe_window_secs, 60) >= coalesce(c.timings.min_dwell_secs, 30),
      coalesce(c.timings.ramp_step_secs, 60) >= coalesce(c.timings.min_dwell_secs, 30),
      coalesce(c.timings.throttle_step_secs, 60) >= coalesce(c.timings.min_dwell_secs, 30),
    ])])
    error_message = "circuits[*].timings: healthy_dwell_secs (default 120), probe_window_secs, ramp_step_secs and throttle_step_secs (default 60) must each be at least min_dwell_secs (default 30)."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.seed == null || try(c.seed >= 0 && floor(c.seed) == c.seed, false)])
    error_message = "circuits[*].seed: must be a non-negative integer."
  }
  validation {
    condition = alltrue(flatten([for c in var.circuits : [
      for kind in ["errors", "throttles", "depth", "age"] : c.alarms[kind].threshold > 0 && (kind != "errors" || c.alarms[kind].threshold <= 100)
    ]]))
    error_message = "circuits[*].alarms.<kind>.threshold: must be above 0 (and at most 100 for the errors rate, in percent)."
  }
  validation {
    condition = alltrue(flatten([for c in var.circuits : [
      for kind in ["errors", "throttles", "depth", "age"] : contains([10, 30], c.alarms[kind].period_secs) || (c.alarms[kind].period_secs >= 60 && c.alarms[kind].period_secs % 60 == 0)
    ]]))
    error_message = "circuits[*].alarms.<kind>.period_secs: must be 10, 30 or a multiple of 60."
  }
  validation {
    condition = alltrue(flatten([for c in var.circuits : [
      for kind in ["errors", "throttles", "depth", "age"] : c.alarms[kind].evaluation_periods >= 1 && c.alarms[kind].evaluation_periods <= 100 && floor(c.alarms[kind].evaluation_periods) == c.alarms[kind].evaluation_periods
    ]]))
    error_message = "circuits[*].alarms.<kind>.evaluation_periods: must be an integer from 1 to 100."
  }
  validation {
    condition = alltrue(flatten([for c in var.circuits : [
      for kind in ["errors", "throttles", "depth", "age"] : c.alarms[kind].datapoints_to_alarm >= 1 && c.alarms[kind].datapoints_to_alarm <= c.alarms[kind].evaluation_periods && floor(c.alarms[kind].datapoints_to_alarm) == c.alarms[kind].datapoints_to_alarm
    ]]))
    error_message = "circuits[*].alarms.<kind>.datapoints_to_alarm: must be an integer from 1 to evaluation_periods."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.alarms.errors.min_invocations >= 0 && floor(c.alarms.errors.min_invocations) == c.alarms.errors.min_invocations])
    error_message = "circuits[*].alarms.errors.min_invocations: must be a non-negative integer."
  }
  validation {
    condition     = alltrue(flatten([for c in var.circuits : [for a in c.alarms.custom : length(trimspace(a.alarm_name)) > 0 && length(a.alarm_name) <= 255]]))
    error_message = "circuits[*].alarms.custom[*].alarm_name: must be 1 to 255 characters."
  }
  validation {
    condition     = alltrue(flatten([for c in var.circuits : [for a in c.alarms.custom : contains(["open", "throttle"], a.action)]]))
    error_message = "circuits[*].alarms.custom[*].action: must be \"open\" or \"throttle\"."
  }
  validation {
    condition     = alltrue([for c in var.circuits : length(c.alarms.custom) + length([for kind in ["errors", "throttles", "depth", "age"] : kind if c.alarms[kind].enabled]) >= 1])
    error_message = "circuits[${join(", ", [for i, c in var.circuits : i if length(c.alarms.custom) + length([for kind in ["errors", "throttles", "depth", "age"] : kind if c.alarms[kind].enabled]) == 0])}].alarms: must create or name at least one alarm."
  }
  validation {
    condition     = alltrue([for c in var.circuits : length(c.alarms.custom) + length([for kind in ["errors", "throttles", "depth", "age"] : kind if c.alarms[kind].enabled]) <= 100])
    error_message = "circuits[*].alarms: must name at most 100 alarms per circuit (what one DescribeAlarms call accepts)."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.overflow.ceiling == null || try(c.overflow.ceiling >= 0 && floor(c.overflow.ceiling) == c.overflow.ceiling, false)])
    error_message = "circuits[*].overflow.ceiling: must be a non-negative integer."
  }
  validation {
    condition = alltrue(flatten([for c in var.circuits : [
      for rate in [c.overflow.move_rate_per_sec, c.overflow.replay_rate_per_sec] : rate == null || try(rate >= 1 && rate <= 3000 && floor(rate) == rate, false)
    ]]))
    error_message = "circuits[*].overflow: move_rate_per_sec and replay_rate_per_sec must be integers from 1 to 3000."
  }
  validation {
    # A move or replay must fit in one invocation (60 s) at its rate: the controller serves
    # every circuit one after another within one Lambda timeout.
    condition = alltrue(flatten([for c in var.circuits : [
      for budget in [
        { most = coalesce(c.overflow.max_moves_per_invocation, 1000), rate = coalesce(c.overflow.move_rate_per_sec, 100) },
        { most = coalesce(c.overflow.max_replays_per_invocation, 2000), rate = coalesce(c.overflow.replay_rate_per_sec, 50) },
      ] : budget.most >= 1 && budget.most <= budget.rate * 60 && floor(budget.most) == budget.most
    ]]))
    error_message = "circuits[*].overflow: max_moves_per_invocation (default 1000) and max_replays_per_invocation (default 2000) must be integers from 1 to 60 seconds' worth at move_rate_per_sec (default 100) and replay_rate_per_sec (default 50)."
  }
  validation {
    condition     = alltrue([for c in var.circuits : c.overflow.replay_after_secs == null || try(c.overflow.replay_after_secs >= 0 && c.overflow.replay_after_secs <= 604800 && floor(c.overflow.replay_after_secs) == c.overflow.replay_after_secs, false)])
    error_message = "circuits[*].overflow.replay_after_secs: must be an integer from 0 to 604800 (a week)."
  }
  validation {
    # An alarm belongs to one circuit; created alarms are named <name>-<circuit>-<kind>.
    condition = length(flatten([for c in var.circuits : concat(
      [for kind in ["errors", "throttles", "depth", "age"] : "${var.name}-${c.name}-${kind}" if c.alarms[kind].enabled],
      [for a in c.alarms.custom : a.alarm_name],
      )])) == length(distinct(flatten([for c in var.circuits : concat(
        [for kind in ["errors", "throttles", "depth", "age"] : "${var.name}-${c.name}-${kind}" if c.alarms[kind].enabled],
        [for a in c.alarms.custom : a.alarm_name],
    )])))
    error_message = "circuits[*].alarms: alarm names must be unique across all circuits (created alarms are named <name>-<circuit>-<kind>)."
  }
}
