resource "aws_subnett" "a" {}
resource "aws_instance" "x" {}
locals {
  a = local.b
  b = local.a
}
resource "aws_autoscaling_group" "g" {
  min_sise = 3
  max_size = "many"
}
