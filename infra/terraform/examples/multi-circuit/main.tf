# Floodgate protecting two consumers whose queues and mappings this configuration owns. It
# shows what a user's own resources need around the module:
# - the mapping ignores changes to `enabled` and `scaling_config`, which Floodgate actuates;
# - the source queue's redrive policy points at the Floodgate dead-letter queue, set with
#   aws_sqs_queue_redrive_policy (inside aws_sqs_queue it would form a dependency cycle with the
#   dead-letter queue's redrive-allow policy, which names the source queue);
# - the consumer role may use the Floodgate key through SQS (consumer_role_arn), which SQS needs
#   to move a message into the encrypted dead-letter queue;
# - a custom alarm of the user's drives a circuit too, with the controller alias as its action.
#
#   scripts/build-controller            # from the repository root: the arm64 package
#   terraform init && terraform apply -var consumer_zip=<your consumer package>

terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}

provider "aws" {}

variable "consumer_zip" {
  description = "The consumers' package (provided.al2023, arm64)."
  type        = string
}

variable "controller_zip" {
  description = "The controller package built by scripts/build-controller."
  type        = string
  default     = "../../../../target/lambda/controller-arm64/bootstrap.zip"
}

locals {
  consumers = {
    orders   = { max = 50, safe = 10 }
    payments = { max = 20, safe = 5 }
  }
}

resource "aws_sqs_queue" "source" {
  # checkov:skip=CKV2_AWS_73:Example queues use SQS-managed encryption; the Floodgate queues use the module's customer-managed key.
  for_each                   = local.consumers
  name                       = each.key
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = 180
}

resource "aws_sqs_queue_redrive_policy" "source" {
  for_each  = local.consumers
  queue_url = aws_sqs_queue.source[each.key].id
  redrive_policy = jsonencode({
    deadLetterTargetArn = module.floodgate.circuits[each.key].dead_letter_queue_arn
    maxReceiveCount     = 5
  })
}

data "aws_iam_policy_document" "consumer_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "consumer" {
  for_each           = local.consumers
  name               = "${each.key}-consumer"
  assume_role_policy = data.aws_iam_policy_document.consumer_trust.json
}

resource "aws_iam_role_policy_attachment" "consumer_sqs" {
  for_each   = local.consumers
  role       = aws_iam_role.consumer[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
}

resource "aws_lambda_function" "consumer" {
  # checkov:skip=CKV_AWS_116:The example consumers' failures stay in SQS (redrive to the Floodgate dead-letter queue).
  # checkov:skip=CKV_AWS_117:Example consumers need no VPC.
  # checkov:skip=CKV_AWS_272:Example consumers are not code-signed.
  for_each      = local.consumers
  function_name = "${each.key}-consumer"
  role          = aws_iam_role.consumer[each.key].arn
  filename      = var.consumer_zip
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = ["arm64"]
  timeout       = 30
  # Floodgate manages it from here (circuits[].manage_reserved_concurrency).
  reserved_concurrent_executions = each.value.max

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    ignore_changes = [reserved_concurrent_executions]
  }
}

resource "aws_lambda_event_source_mapping" "consumer" {
  for_each         = local.consumers
  event_source_arn = aws_sqs_queue.source[each.key].arn
  function_name    = aws_lambda_function.consumer[each.key].arn
  batch_size       = 10

  scaling_config {
    maximum_concurrency = each.value.max
  }

  # Floodgate disables the mapping and moves its MaximumConcurrency while a circuit is tripped;
  # without this, the next apply would undo what the breaker did.
  lifecycle {
    ignore_changes = [enabled, scaling_config]
  }
}

resource "aws_cloudwatch_metric_alarm" "payments_latency" {
  alarm_name          = "payments-latency"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.consumer["payments"].function_name }
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = 10000
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.floodgate.alias_arn]
  ok_actions          = [module.floodgate.alias_arn]
}

module "floodgate" {
  source = "../.."

  name           = "floodgate-shop"
  controller_zip = var.controller_zip
  circuits = [
    for name, levels in local.consumers : {
      name                      = name
      event_source_mapping_uuid = aws_lambda_event_source_mapping.consumer[name].uuid
      function_name             = aws_lambda_function.consumer[name].function_name
      source_queue_arn          = aws_sqs_queue.source[name].arn
      consumer_role_arn         = aws_iam_role.consumer[name].arn
      levels                    = levels
      headroom                  = 2
      actions                   = { age = "open" }
      timings                   = { open_wait_secs = 120, healthy_dwell_secs = 180 }
      alarms = {
        depth  = { threshold = 5000 }
        custom = name == "payments" ? [{ alarm_name = "payments-latency", action = "throttle" }] : []
      }
    }
  ]
}

output "controller_alias_arn" {
  description = "Invoke this for status and overrides."
  value       = module.floodgate.alias_arn
}

output "circuits" {
  description = "Queues and alarms per circuit."
  value       = module.floodgate.circuits
}
