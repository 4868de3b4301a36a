# Stands in for main.tf when the module's variables.tf and config.tf are evaluated on their own
# (tests/conftest.py copies the three files into a scratch directory). It provides the locals
# main.tf takes from the AWS provider's data sources and from the overflow queues, so terraform
# needs no provider. The overflow queue of a circuit gets the URL a queue named
# `<circuit>-overflow` would have (the CDK tests resolve theirs the same way).

variable "test_account_id" {
  type    = string
  default = "123456789012"
}

variable "test_region" {
  type    = string
  default = "us-east-1"
}

locals {
  account_id = var.test_account_id
  region     = var.test_region
  partition  = "aws"
  dns_suffix = "amazonaws.com"

  overflow_queue_urls = { for c in var.circuits : c.name => "https://sqs.${var.test_region}.amazonaws.com/${var.test_account_id}/${c.name}-overflow" }
}

output "controller_config_json" {
  value = local.controller_config_json
}

output "alarm_arns" {
  value = local.alarm_arns
}

output "queues" {
  value = local.queues
}
