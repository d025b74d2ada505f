variable "zones" {
  default = { "us-east-1a" = "10.0.1.0/24", "us-east-1b" = "10.0.2.0/24" }
}
locals {
  names = [for z in keys(var.zones) : upper(z)]
}
resource "aws_subnet" "public" {
  for_each          = var.zones
  availability_zone = each.key
  cidr_block        = each.value
}
resource "aws_subnet" "private" {
  count             = 2
  availability_zone = element(keys(var.zones), count.index)
  cidr_block        = cidrsubnet("10.1.0.0/16", 8, count.index)
}
resource "aws_lb" "front" {
  subnets = values(aws_subnet.public)[*].id
}
