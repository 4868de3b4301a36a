# IAM: the controller's role, the scheduler's role and the key policy. Every statement names
# the exact resources it needs; the only wildcards are the ones an API requires, each said
# where it is.

data "aws_iam_policy_document" "controller_trust" {
  statement {
    sid     = "LambdaRunsTheController"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "controller" {
  name_prefix        = "${var.name}-controller-"
  description        = "Floodgate ${var.name} controller: the protected mappings, consumers, alarms and queues only"
  assume_role_policy = data.aws_iam_policy_document.controller_trust.json
  tags               = var.tags
}

locals {
  mapping_arn_list        = [for c in var.circuits : local.mapping_arns[c.name]]
  consumer_arn_list       = [for c in var.circuits : local.consumer_arns[c.name]]
  managed_consumer_arns   = [for c in var.circuits : local.consumer_arns[c.name] if c.manage_reserved_concurrency]
  source_queue_arn_list   = [for c in var.circuits : c.source_queue_arn]
  overflow_queue_arn_list = [for name in keys(local.circuits_by_name) : aws_sqs_queue.this["overflow/${name}"].arn]
  dead_letter_arn_list    = [for name in keys(local.circuits_by_name) : aws_sqs_queue.this["dead-letter/${name}"].arn]
}

data "aws_iam_policy_document" "controller" {
  statement {
    sid       = "ReadAndActuateTheProtectedMappings"
    actions   = ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]
    resources = local.mapping_arn_list
  }

  statement {
    sid       = "KeepCircuitStateInMappingTags"
    actions   = ["lambda:ListTags", "lambda:TagResource"]
    resources = local.mapping_arn_list
  }

  statement {
    sid       = "ReadConsumerReservedConcurrency"
    actions   = ["lambda:GetFunctionConcurrency"]
    resources = local.consumer_arn_list
  }

  dynamic "statement" {
    for_each = length(local.managed_consumer_arns) > 0 ? [1] : []
    content {
      sid       = "SetConsumerReservedConcurrency"
      actions   = ["lambda:PutFunctionConcurrency"]
      resources = local.managed_consumer_arns
    }
  }

  statement {
    sid       = "ReadAlarmStates"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = values(local.alarm_arns)
  }

  # A half-open circuit judges its probe by the consumer's own Invocations and Errors.
  # cloudwatch:GetMetricData defines no resource type (Service Authorization Reference,
  # "Actions, resources, and condition keys for Amazon CloudWatch"), so it takes "*"; it
  # only reads metrics.
  statement {
    sid       = "ReadProbeTraffic"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadSourceQueueDepth"
    actions   = ["sqs:GetQueueAttributes"]
    resources = local.source_queue_arn_list
  }

  # Overflow (DESIGN "Overflow"): move the excess of a tripped circuit from its source to its
  # overflow queue, and replay it back once the circuit has been closed long enough.
  statement {
    sid       = "MoveOverflowAndReplayIt"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = concat(local.source_queue_arn_list, local.overflow_queue_arn_list)
  }

  # Overflow messages that can never be delivered (replayed too often, too large for the
  # source, their consumer's receives used up) go to the circuit's dead-letter queue with a
  # reason attribute; the queue is found from the source's RedrivePolicy with GetQueueUrl.
  statement {
    sid       = "DeadLetterWithAReason"
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SendMessage"]
    resources = local.dead_letter_arn_list
  }

  statement {
    sid       = "SendFailedInvocationsToTheFailureQueue"
    actions   = ["sqs:SendMessage"]
    resources = [local.failure_queue.arn]
  }

  statement {
    sid       = "UseTheFloodgateKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }

  statement {
    sid       = "WriteTheControllerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.controller.arn}:*"]
  }

  # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions:
  # `*` is the only resource they accept.
  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "controller" {
  # checkov:skip=CKV_AWS_290:The only unconstrained resource is X-Ray's (statement SendTraces), whose actions accept nothing but "*"; every write elsewhere names exact ARNs.
  # checkov:skip=CKV_AWS_355:Same statement: X-Ray trace upload has no resource-level permissions.
  name   = "floodgate-controller"
  role   = aws_iam_role.controller.id
  policy = data.aws_iam_policy_document.controller.json
}

# The scheduler's role: only EventBridge Scheduler of this account may assume it, and it may
# only invoke the alias (and read the schedule, encrypted with the key).

data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    sid     = "SchedulerOfThisAccount"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/default/${var.name}-tick"]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name_prefix        = "${var.name}-scheduler-"
  description        = "Floodgate ${var.name}: the tick schedule invokes the controller alias"
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeTheControllerAlias"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_alias.live.arn]
  }

  statement {
    sid       = "DecryptTheSchedule"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "floodgate-tick"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# The key policy. In a key policy the resource is always the key itself, so `*` is the
# required form of every Resource below.

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:A key policy applies to its own key only: "*" is the required Resource. Administration stays with the account (IAM), as for every customer-managed key.
  # checkov:skip=CKV_AWS_111:Same: "*" in a key policy means this key; the other principals are the log group (by encryption context) and consumer roles (through SQS only).
  # checkov:skip=CKV_AWS_356:Same: "*" in a key policy means this key.
  # The account administers the key through IAM, as for every customer-managed key; without
  # this statement the key could become unmanageable.
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheControllerLogGroup"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.${local.dns_suffix}"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"]
    }
  }

  # SQS moves a message into the dead-letter queue as the consumer that received it, so that
  # role must be able to use the key, and only through SQS.
  dynamic "statement" {
    for_each = { for i, c in var.circuits : tostring(i) => c.consumer_role_arn if c.consumer_role_arn != null }
    content {
      sid       = "SqsMovesDeadLettersAsTheConsumerOf${statement.key}"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = [statement.value]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.${local.dns_suffix}"]
      }
    }
  }
}
