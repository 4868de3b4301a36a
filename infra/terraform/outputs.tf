output "function_name" {
  description = "Name of the controller function."
  value       = aws_lambda_function.controller.function_name
}

output "function_arn" {
  description = "ARN of the controller function (unqualified)."
  value       = aws_lambda_function.controller.arn
}

output "alias_arn" {
  description = "ARN of the controller's live alias: what alarms and the schedule invoke, and what operators invoke for status and overrides (the alarm action of custom alarms)."
  value       = aws_lambda_alias.live.arn
}

output "role_arn" {
  description = "ARN of the controller's role."
  value       = aws_iam_role.controller.arn
}

output "kms_key_arn" {
  description = "ARN of the customer-managed key of the queues, the controller logs, its environment and the schedule."
  value       = aws_kms_key.this.arn
}

output "log_group_name" {
  description = "The controller's log group."
  value       = aws_cloudwatch_log_group.controller.name
}

output "failure_queue_url" {
  description = "URL of the queue that receives asynchronous controller invocations that failed every retry."
  value       = local.failure_queue.url
}

output "failure_queue_arn" {
  description = "ARN of the failure queue."
  value       = local.failure_queue.arn
}

output "schedule_arn" {
  description = "ARN of the tick schedule."
  value       = aws_scheduler_schedule.tick.arn
}

output "circuits" {
  description = "Per circuit name: dead_letter_queue_arn and _url (point the source queue's redrive policy here, maxReceiveCount >= 5), overflow_queue_arn and _url, and alarm_names (every alarm the circuit obeys, in config order)."
  value = {
    for c in var.circuits : c.name => {
      dead_letter_queue_arn = aws_sqs_queue.this["dead-letter/${c.name}"].arn
      dead_letter_queue_url = aws_sqs_queue.this["dead-letter/${c.name}"].url
      overflow_queue_arn    = aws_sqs_queue.this["overflow/${c.name}"].arn
      overflow_queue_url    = aws_sqs_queue.this["overflow/${c.name}"].url
      alarm_names           = [for a in local.circuit_alarms[c.name] : a.name]
    }
  }
}

output "controller_config" {
  description = "The controller configuration JSON (the FLOODGATE_CONFIG environment variable)."
  value       = local.controller_config_json
}
