# Functions, templates and files: every value below is computed, none is written literally.

locals {
  zones = ["us-east-1a", "us-east-1b"]
  port  = 8080
  script = templatefile("${path.module}/user_data.tpl", {
    zones = local.zones
    port  = local.port
    name  = "web"
  })
}

resource "aws_subnet" "a" {
  availability_zone = local.zones[0]
  cidr_block        = cidrsubnet("10.20.0.0/16", 8, 1)
}

resource "aws_subnet" "b" {
  availability_zone = element(local.zones, 1)
  cidr_block        = cidrsubnet("10.20.0.0/16", 8, 2)
}

resource "aws_lb_target_group" "web" {
  name = format("%s-%d-%s", lower("WEB"), local.port, trimspace("  us-east-1 "))
  port = tonumber("8080")

  health_check {
    path = "/health?v=${jsonencode(tostring(1))}"
  }
}

resource "aws_launch_template" "web" {
  instance_type = "t3.micro"
  user_data     = base64encode(local.script)
}

resource "aws_launch_template" "from_file" {
  instance_type = "t3.micro"
  user_data     = base64encode(file("${path.module}/boot.sh"))
}

resource "aws_autoscaling_group" "web" {
  min_size            = min(2, 5)
  max_size            = max(length(local.zones) * 3, 1)
  vpc_zone_identifier = [aws_subnet.a.id, aws_subnet.b.id]
  target_group_arns   = [lookup({ web = aws_lb_target_group.web.arn }, "web")]

  launch_template {
    id = aws_launch_template.web.id
  }
}
