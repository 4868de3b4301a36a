# Floodgate protecting one existing consumer: the function `orders-consumer`, fed by the queue
# `orders` through an existing event source mapping (its UUID is an input).
#
#   scripts/build-controller            # from the repository root: the arm64 package
#   terraform init && terraform apply -var orders_mapping_uuid=<uuid>

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

variable "orders_mapping_uuid" {
  description = "UUID of the event source mapping from the orders queue to orders-consumer."
  type        = string
}

variable "controller_zip" {
  description = "The controller package built by scripts/build-controller."
  type        = string
  default     = "../../../../target/lambda/controller-arm64/bootstrap.zip"
}

data "aws_sqs_queue" "orders" {
  name = "orders"
}

module "floodgate" {
  source = "../.."

  controller_zip = var.controller_zip
  circuits = [{
    name                      = "orders"
    event_source_mapping_uuid = var.orders_mapping_uuid
    function_name             = "orders-consumer"
    source_queue_arn          = data.aws_sqs_queue.orders.arn
    levels                    = { max = 50, safe = 10 }
  }]
}

output "controller_alias_arn" {
  description = "Invoke this for status and overrides."
  value       = module.floodgate.alias_arn
}

output "orders_dead_letter_queue_arn" {
  description = "Point the orders queue's redrive policy here (maxReceiveCount >= 5)."
  value       = module.floodgate.circuits["orders"].dead_letter_queue_arn
}
