# Floodgate: an event-source circuit breaker for Lambda consumers of SQS.
#
# One controller function (reserved concurrency 1, invoked through its `live` alias) is woken
# by each circuit's alarms on ALARM and OK and by a scheduled tick. Dead letters, overflow and
# failed invocations go to queues encrypted with a customer-managed key and reachable over TLS
# only. The user's event source mappings are referenced by UUID, never owned (README.md shows
# the `lifecycle { ignore_changes }` they need). Names, ARNs and the controller configuration
# are in config.tf; IAM and the key policy are in iam.tf.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix

  log_group_name = "/floodgate/${var.name}/controller"
  alias_name     = "live"
  tick_input     = jsonencode({ floodgate = "tick" })

  # The metric each threshold alarm watches (the errors alarm is a metric-math rate).
  threshold_metrics = {
    throttles = { namespace = "AWS/Lambda", metric = "Throttles", statistic = "Sum" }
    depth     = { namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum" }
    age       = { namespace = "AWS/SQS", metric = "ApproximateAgeOfOldestMessage", statistic = "Maximum" }
  }
}

resource "aws_kms_key" "this" {
  description             = "Floodgate ${var.name}: dead-letter, overflow and failure queues, controller logs and environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/floodgate-${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# Queues (local.queues, in config.tf): a dead-letter and an overflow queue per circuit, and the
# controller's failure queue, all secured the same way: encrypted with the key, a policy
# denying every request made without TLS, and a redrive-allow policy. Access is granted by the
# roles' own policies only.

resource "aws_sqs_queue" "this" {
  for_each = local.queues

  name_prefix                       = each.value.name_prefix
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = var.queue_retention_secs
  redrive_allow_policy              = each.value.redrive_allow_policy
  tags                              = var.tags
}

locals {
  overflow_queue_urls = { for name in keys(local.circuits_by_name) : name => aws_sqs_queue.this["overflow/${name}"].url }
  failure_queue       = aws_sqs_queue.this["failures"]
}

resource "aws_sqs_queue_policy" "tls_only" {
  for_each = aws_sqs_queue.this

  queue_url = each.value.url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyRequestsWithoutTls"
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "sqs:*"
      Resource  = each.value.arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# The controller.

resource "aws_cloudwatch_log_group" "controller" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_lambda_function" "controller" {
  # checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the on-failure destination of the live alias (aws_lambda_function_event_invoke_config.live), which records request and error; a DeadLetterConfig would duplicate it.
  # checkov:skip=CKV_AWS_117:The controller talks only to AWS APIs (Lambda, CloudWatch, SQS); a VPC would add NAT or endpoints and protect nothing.
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the package is built reproducibly by scripts/build-controller and its sha256 is pinned by source_code_hash.
  function_name    = "${var.name}-controller"
  description      = "Floodgate ${var.name}: event-source circuit breaker controller"
  role             = aws_iam_role.controller.arn
  filename         = var.controller_zip
  source_code_hash = filebase64sha256(var.controller_zip)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  memory_size      = var.memory_size
  timeout          = var.timeout_secs
  # The controller is the single writer of every circuit's state (tags on the mapping).
  reserved_concurrent_executions = 1
  publish                        = true
  kms_key_arn                    = aws_kms_key.this.arn

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = {
      FLOODGATE_CONFIG = local.controller_config_json
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.controller.name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.controller]
}

resource "aws_lambda_alias" "live" {
  name             = local.alias_name
  description      = "What the alarms, the schedule and operators invoke"
  function_name    = aws_lambda_function.controller.function_name
  function_version = aws_lambda_function.controller.version
}

resource "aws_lambda_function_event_invoke_config" "live" {
  function_name = aws_lambda_function.controller.function_name
  qualifier     = aws_lambda_alias.live.name
  # Alarm events are hints and ticks repeat, so an old event is worth little.
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = local.failure_queue.arn
    }
  }
}

# Alarms: per circuit, the kinds asked for, each invoking the alias on ALARM and on OK. No data
# means no traffic, which is healthy.

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = { for k, a in local.created_alarms : k => a if a.kind == "errors" }

  alarm_name          = each.value.name
  alarm_description   = "Floodgate circuit ${each.value.circuit}: errors"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = each.value.options.threshold
  evaluation_periods  = each.value.options.evaluation_periods
  datapoints_to_alarm = each.value.options.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_lambda_alias.live.arn]
  ok_actions          = [aws_lambda_alias.live.arn]

  # A rate, and only over enough invocations that one failure is not an outage.
  metric_query {
    id          = "rate"
    expression  = "IF(invocations >= ${each.value.options.min_invocations}, 100 * errors / invocations, 0)"
    label       = "Error rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      period      = each.value.options.period_secs
      stat        = "Sum"
      dimensions  = { FunctionName = local.consumer_names[each.value.circuit] }
    }
  }

  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      period      = each.value.options.period_secs
      stat        = "Sum"
      dimensions  = { FunctionName = local.consumer_names[each.value.circuit] }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "threshold" {
  for_each = { for k, a in local.created_alarms : k => a if a.kind != "errors" }

  alarm_name          = each.value.name
  alarm_description   = "Floodgate circuit ${each.value.circuit}: ${each.value.kind}"
  namespace           = local.threshold_metrics[each.value.kind].namespace
  metric_name         = local.threshold_metrics[each.value.kind].metric
  statistic           = local.threshold_metrics[each.value.kind].statistic
  period              = each.value.options.period_secs
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = each.value.options.threshold
  evaluation_periods  = each.value.options.evaluation_periods
  datapoints_to_alarm = each.value.options.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_lambda_alias.live.arn]
  ok_actions          = [aws_lambda_alias.live.arn]
  dimensions = each.value.kind == "throttles" ? {
    FunctionName = local.consumer_names[each.value.circuit]
    } : {
    QueueName = local.source_queue_names[each.value.circuit]
  }
  tags = var.tags
}

# One permission per alarm (created or custom), each naming its alarm: no other alarm, and no
# alarm of another account, can invoke the controller.
resource "aws_lambda_permission" "alarm" {
  for_each = local.alarm_arns

  statement_id   = "FloodgateAlarm-${substr(sha1(each.key), 0, 20)}"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.controller.function_name
  qualifier      = aws_lambda_alias.live.name
  principal      = "lambda.alarms.cloudwatch.amazonaws.com"
  source_account = local.account_id
  source_arn     = each.value
}

# The tick: drives time-based transitions and repairs what a lost event missed.
resource "aws_scheduler_schedule" "tick" {
  name                = "${var.name}-tick"
  description         = "Floodgate ${var.name}: periodic reconcile of every circuit"
  schedule_expression = var.tick_interval_minutes == 1 ? "rate(1 minute)" : "rate(${var.tick_interval_minutes} minutes)"
  kms_key_arn         = aws_kms_key.this.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_alias.live.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = local.tick_input

    # The next tick repairs whatever a failed one missed; retries would only pile up.
    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 60
    }
  }
}
