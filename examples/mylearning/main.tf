# MyLearning: the classic scalable, highly available web tier.
#
# An Application Load Balancer in front of an auto scaling group spread over three
# availability zones. This is ordinary AWS Terraform: `terraform plan` reads it as-is, and
# `updraft up` runs it for real on this machine — each AZ is a loopback block
# (us-east-1a = 127.0.1.0/24, b = 127.0.2.0/24, c = 127.0.3.0/24) and each instance is a
# real `mylearning` process, CPU- and memory-limited by its instance type.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "listener_port" {
  description = "Port the load balancer listens on (80 on AWS; unprivileged here)."
  type        = number
  default     = 8080
}

variable "app_port" {
  description = "Port each instance serves on, at its own address."
  type        = number
  default     = 8080
}

variable "session_secret" {
  description = "Signs MyLearning's session cookies; the same for every instance."
  type        = string
  default     = "change-me-mylearning-session-secret"
  sensitive   = true
}

locals {
  name  = "mylearning"
  zones = ["${var.region}a", "${var.region}b", "${var.region}c"]
}

resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = local.name }
}

resource "aws_subnet" "public" {
  count             = length(local.zones)
  vpc_id            = aws_vpc.main.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(aws_vpc.main.cidr_block, 8, count.index + 1)
  tags              = { Name = "${local.name}-${local.zones[count.index]}" }
}

resource "aws_security_group" "web" {
  name   = "${local.name}-web"
  vpc_id = aws_vpc.main.id
}

resource "aws_lb" "web" {
  name               = local.name
  load_balancer_type = "application"
  subnets            = aws_subnet.public[*].id
  security_groups    = [aws_security_group.web.id]
}

resource "aws_lb_target_group" "web" {
  name                 = "${local.name}-web"
  port                 = var.app_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = "/health"
    interval            = 5
    timeout             = 2
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200"
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.web.arn
  port              = var.listener_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

variable "db_password" {
  description = "Master password of the MyLearning database (8 to 128 characters)."
  type        = string
  default     = "mylearning-local-only"
  sensitive   = true
}

variable "db_port" {
  description = "Port of the database's writer and reader endpoints."
  type        = number
  default     = 5432
}

# The database: a Multi-AZ PostgreSQL primary (a synchronous standby in another AZ, automated
# failover) and one asynchronous read replica. On AWS this is RDS; here updraft runs real
# PostgreSQL servers (Debian's postgresql package) on the AZs' loopback blocks, with a writer
# endpoint (127.0.0.2:5432, always the current primary) and a reader endpoint
# (127.0.0.3:5432, the replicas) on its own data plane. Instances get them as
# UPDRAFT_DB_WRITER / UPDRAFT_DB_READER / UPDRAFT_DB_NAME / UPDRAFT_DB_USER / UPDRAFT_DB_PASSWORD.
resource "aws_db_subnet_group" "db" {
  name       = "${local.name}-db"
  subnet_ids = aws_subnet.public[*].id
}

resource "aws_db_instance" "main" {
  identifier              = "${local.name}-db"
  engine                  = "postgres"
  engine_version          = "15"
  instance_class          = "db.t3.micro"
  allocated_storage       = 20
  db_name                 = "mylearning"
  username                = "mylearning"
  password                = var.db_password
  port                    = var.db_port
  multi_az                = true
  availability_zone       = local.zones[0]
  db_subnet_group_name    = aws_db_subnet_group.db.name
  backup_retention_period = 7
  skip_final_snapshot     = true
  # The reader endpoint leaves out replicas more than this much WAL behind.
  tags = { "updraft:max_replica_lag" = "16MB" }
}

resource "aws_db_instance" "replica" {
  identifier          = "${local.name}-db-replica"
  replicate_source_db = aws_db_instance.main.identifier
  instance_class      = "db.t3.micro"
  availability_zone   = local.zones[2]
  port                = var.db_port
  skip_final_snapshot = true
}

resource "aws_launch_template" "web" {
  name_prefix   = "${local.name}-"
  image_id      = "ami-0abcdef1234567890"
  instance_type = "t3.micro"

  # On AWS this script would install and start the app; here the instance is this script.
  user_data = base64encode(<<-EOF
    #!/bin/sh
    echo "booting MyLearning on $UPDRAFT_INSTANCE_ID in $UPDRAFT_AZ at $HOST:$PORT"
    echo "database writer ${aws_db_instance.main.endpoint}, reader ${aws_db_instance.replica.endpoint}"
    # Every instance signs session cookies with the same secret: any of them serves any user.
    export MYLEARNING_SESSION_SECRET="${var.session_secret}"
    exec mylearning
  EOF
  )
}

resource "aws_autoscaling_group" "web" {
  name                      = "web"
  min_size                  = 3
  max_size                  = 12
  desired_capacity          = 3
  vpc_zone_identifier       = aws_subnet.public[*].id
  target_group_arns         = [aws_lb_target_group.web.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 30
  default_instance_warmup   = 5

  launch_template {
    id      = aws_launch_template.web.id
    version = "$Latest"
  }

  tag {
    key                 = "Name"
    value               = local.name
    propagate_at_launch = true
  }
}

# Target tracking: hold the group's average CPU at 50% of what its instance type allows.
# updraft creates the two alarms AWS would (TargetTracking-web-AlarmHigh-… / -AlarmLow-…), with
# 1-second datapoints by default: 3 above 50% scale out in one proportional jump, 15 below 45%
# scale in (`updraft up --target-tracking-alarms aws` gives AWS's 1-minute 3-of-3 / 15-of-15).
resource "aws_autoscaling_policy" "cpu" {
  name                   = "cpu-target-50"
  autoscaling_group_name = aws_autoscaling_group.web.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = 50
  }
}

output "url" {
  value = "http://127.0.0.1:${var.listener_port}/"
}
