# Names, ARNs, the queues to create and the controller configuration, computed from the inputs
# alone.
#
# This file uses no provider: only variables and the locals account_id, region, partition,
# dns_suffix and overflow_queue_urls (set in main.tf from data sources and resources). That keeps it testable offline:
# tests/ evaluates it with terraform alone, and the controller's own loader then checks the
# JSON it renders (tests/tests/infra_config.rs).

locals {
  alarm_kinds = ["errors", "throttles", "depth", "age"]

  circuits_by_name = { for c in var.circuits : c.name => c }

  # Accepts a function name or ARN, as the controller does.
  consumer_names     = { for c in var.circuits : c.name => startswith(c.function_name, "arn:") ? split(":", c.function_name)[6] : c.function_name }
  consumer_arns      = { for c in var.circuits : c.name => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.consumer_names[c.name]}" }
  mapping_arns       = { for c in var.circuits : c.name => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:event-source-mapping:${c.event_source_mapping_uuid}" }
  source_queue_names = { for c in var.circuits : c.name => split(":", c.source_queue_arn)[5] }
  source_queue_urls = {
    for c in var.circuits : c.name => "https://sqs.${split(":", c.source_queue_arn)[3]}.${local.dns_suffix}/${split(":", c.source_queue_arn)[4]}/${split(":", c.source_queue_arn)[5]}"
  }

  # Every alarm of every circuit, in config order: the created kinds, then custom alarms.
  circuit_alarms = {
    for c in var.circuits : c.name => concat(
      [for kind in local.alarm_kinds : { name = "${var.name}-${c.name}-${kind}", kind = kind } if c.alarms[kind].enabled],
      [for a in c.alarms.custom : { name = a.alarm_name, kind = "custom", action = a.action }],
    )
  }
  # The alarms this module creates, by "<circuit>/<kind>".
  created_alarms = merge([for c in var.circuits : {
    for kind in local.alarm_kinds : "${c.name}/${kind}" => {
      circuit = c.name
      kind    = kind
      name    = "${var.name}-${c.name}-${kind}"
      options = c.alarms[kind]
    } if c.alarms[kind].enabled
  }]...)
  # Alarm name => ARN, for every alarm the controller obeys (created and custom).
  alarm_arns = merge([for c in var.circuits : {
    for a in local.circuit_alarms[c.name] : a.name => "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${a.name}"
  }]...)

  # Optional fields are written only when set, so the controller's own defaults apply
  # otherwise (the CDK construct renders the same document for the same inputs).
  circuit_configs = [for c in var.circuits : merge(concat(
    [{
      name                      = c.name
      event_source_mapping_uuid = c.event_source_mapping_uuid
      function_name             = c.function_name
      queue_url                 = local.source_queue_urls[c.name]
      alarms                    = local.circuit_alarms[c.name]
      levels                    = { for k, v in c.levels : k => v if v != null }
    }],
    [for unmanaged in [!c.manage_reserved_concurrency] : { reserved_concurrency = { mode = "unmanaged" } } if unmanaged],
    [for h in [c.headroom] : { reserved_concurrency = { mode = "managed", headroom = h } } if h != null && c.manage_reserved_concurrency],
    [for k in [c.kill_switch] : { kill_switch = k } if k != null],
    [for a in [{ for k, v in c.actions : k => v if v != null }] : { actions = a } if length(a) > 0],
    [for t in [{ for k, v in c.timings : k => v if v != null }] : { timings = t } if length(t) > 0],
    [for s in [c.seed] : { seed = s } if s != null],
    [{ overflow = merge({ queue_url = local.overflow_queue_urls[c.name] }, { for k, v in c.overflow : k => v if v != null }) }],
  )...)]

  controller_config = merge(concat(
    [{ account_id = local.account_id, region = local.region, circuits = local.circuit_configs }],
    [for r in [var.control_plane_rate_per_sec] : { control_plane_rate_per_sec = r } if r != null],
  )...)
  controller_config_json = jsonencode(local.controller_config)
}

# The queues main.tf creates, by "dead-letter/<circuit>", "overflow/<circuit>" and "failures".
locals {
  queues = merge(
    { for name, c in local.circuits_by_name : "dead-letter/${name}" => {
      name_prefix = "${substr("${var.name}-${name}", 0, 40)}-dlq-"
      # Only the circuit's source queue may send its dead letters here.
      redrive_allow_policy = jsonencode({ redrivePermission = "byQueue", sourceQueueArns = [c.source_queue_arn] })
    } },
    # Filled by the controller alone; never anyone's dead-letter queue.
    { for name, c in local.circuits_by_name : "overflow/${name}" => {
      name_prefix          = "${substr("${var.name}-${name}", 0, 40)}-overflow-"
      redrive_allow_policy = jsonencode({ redrivePermission = "denyAll" })
    } },
    { "failures" = {
      name_prefix          = "${var.name}-controller-failures-"
      redrive_allow_policy = jsonencode({ redrivePermission = "denyAll" })
    } },
  )
}
