terraform {
  # 1.9: variable validations that refer to other variables (alarm names use var.name).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}
