resource "aws_subnet" "a" {
  availability_zone = "us-east-1a"
  cidr_block        = "10.0.1.0/24"
}

resource "aws_launch_template" "web" {
  instance_type = "t3.micro"
  user_data     = base64encode("exec ./app")
}

resource "aws_autoscaling_group" "web" {
  name                    = "web"
  min_size                = 1
  max_size                = 6
  vpc_zone_identifier     = [aws_subnet.a.id]
  default_instance_warmup = 30
  max_instance_lifetime   = 86400
  suspended_processes     = ["AZRebalance"]
  launch_template {
    id = aws_launch_template.web.id
  }
  initial_lifecycle_hook {
    name                 = "boot"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    heartbeat_timeout    = 60
    default_result       = "CONTINUE"
  }
  warm_pool {
    pool_state = "Stopped"
    min_size   = 1
    instance_reuse_policy {
      reuse_on_scale_in = true
    }
  }
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
      checkpoint_percentages = [50, 100]
    }
  }
}

resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = "drain"
  autoscaling_group_name = aws_autoscaling_group.web.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
}
