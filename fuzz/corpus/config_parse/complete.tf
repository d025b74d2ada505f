# The MyLearning web tier: three subnets in three zones, an application load balancer,
# one target group, a listener and an auto scaling group of web servers.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "eu-west-3"
}

variable "app_port" {
  type        = number
  default     = 8080
  description = "Port the application listens on"
}

variable "capacity" {
  type = object({
    min     = number
    max     = number
    desired = optional(number)
  })
  default = { min = 3, max = 12, desired = 3 }
}

locals {
  name  = "mylearning"
  zones = ["${var.region}a", "${var.region}b", "${var.region}c"]
  tags  = merge({ Project = local.name }, { Environment = "dev" })
}

resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
  tags       = local.tags
}

resource "aws_subnet" "public" {
  count             = 3
  vpc_id            = aws_vpc.main.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(aws_vpc.main.cidr_block, 8, count.index + 1)
  tags              = merge(local.tags, { Name = format("%s-public-%d", local.name, count.index) })
}

resource "aws_security_group" "web" {
  name   = "${local.name}-web"
  vpc_id = aws_vpc.main.id
}

resource "aws_lb" "front" {
  name               = "${local.name}-alb"
  load_balancer_type = "application"
  internal           = false
  subnets            = aws_subnet.public[*].id
  security_groups    = [aws_security_group.web.id]
  idle_timeout       = 30
}

resource "aws_lb_target_group" "web" {
  name                 = "${local.name}-web"
  port                 = var.app_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = "20"

  health_check {
    path                = "/healthz"
    interval            = 10
    timeout             = 3
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200-299"
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.front.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_launch_template" "web" {
  name_prefix   = "${local.name}-"
  image_id      = data.aws_ami.app.id
  instance_type = "t3.micro"
  user_data = base64encode(<<-EOF
    #!/bin/sh
    export PORT=${var.app_port}
    exec ./mylearning --port "$PORT"
  EOF
  )
  vpc_security_group_ids = [aws_security_group.web.id]
}

data "aws_ami" "app" {
  most_recent = true
  owners      = ["amazon"]
}

resource "aws_autoscaling_group" "web" {
  name                      = "${local.name}-web"
  min_size                  = var.capacity.min
  max_size                  = var.capacity.max
  desired_capacity          = var.capacity.desired
  vpc_zone_identifier       = [for s in aws_subnet.public : s.id]
  target_group_arns         = [aws_lb_target_group.web.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 60
  termination_policies      = ["OldestInstance", "Default"]

  launch_template {
    id      = aws_launch_template.web.id
    version = aws_launch_template.web.latest_version
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

output "url" {
  value = "http://${aws_lb.front.dns_name}/"
}
