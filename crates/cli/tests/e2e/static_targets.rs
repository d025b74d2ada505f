//! The load balancer on its own, in front of servers updraft did not start: no auto scaling
//! group, `target_type = "ip"` and `aws_lb_target_group_attachment`s, listener rules with every
//! action — and rules, targets and a second target group changed by `updraft apply` under load
//! with no failed request.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::support::*;

/// A tiny keep-alive HTTP/1.1 server on `addr` that answers every request with `name`.
/// Stops accepting when `stop` is set (idle connections time out on their own).
fn static_server(addr: SocketAddr, name: &'static str, stop: Arc<AtomicBool>) {
    let listener = TcpListener::bind(addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            std::thread::spawn(move || {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    // Request line and headers; bodies are not used by this test.
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn config(port: u16, targets: &[(&str, u16)], extra_rule: bool) -> String {
    let attachments: String = targets
        .iter()
        .map(|(name, p)| {
            format!(
                r#"
resource "aws_lb_target_group_attachment" "{name}" {{
  target_group_arn = aws_lb_target_group.static.arn
  target_id        = "127.0.0.1"
  port             = {p}
}}
"#
            )
        })
        .collect();
    let extra = if extra_rule {
        r#"
resource "aws_lb_listener_rule" "teapot" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 5
  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "short and stout"
      status_code  = "418"
    }
  }
  condition {
    path_pattern {
      values = ["/teapot"]
    }
  }
}
"#
    } else {
        ""
    };
    format!(
        r#"
resource "aws_subnet" "a" {{
  availability_zone = "us-east-1a"
  cidr_block        = "127.0.1.0/24"
}}

resource "aws_subnet" "b" {{
  availability_zone = "us-east-1b"
  cidr_block        = "127.0.2.0/24"
}}

resource "aws_lb" "front" {{
  subnets = [aws_subnet.a.id, aws_subnet.b.id]
}}

resource "aws_lb_target_group" "static" {{
  port                 = 80
  target_type          = "ip"
  deregistration_delay = 2
  health_check {{
    interval            = 5
    timeout             = 2
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }}
}}
{attachments}
resource "aws_lb_listener" "http" {{
  load_balancer_arn = aws_lb.front.arn
  port              = {port}
  default_action {{
    type = "fixed-response"
    fixed_response {{
      content_type = "text/plain"
      message_body = "no route"
      status_code  = "404"
    }}
  }}
}}

resource "aws_lb_listener_rule" "app" {{
  listener_arn = aws_lb_listener.http.arn
  priority     = 10
  action {{
    type             = "forward"
    target_group_arn = aws_lb_target_group.static.arn
  }}
  condition {{
    path_pattern {{
      values = ["/app/*"]
    }}
  }}
}}

resource "aws_lb_listener_rule" "old" {{
  listener_arn = aws_lb_listener.http.arn
  priority     = 20
  action {{
    type = "redirect"
    redirect {{
      path        = "/app/#{{path}}"
      status_code = "HTTP_302"
    }}
  }}
  condition {{
    path_pattern {{
      values = ["/legacy/*"]
    }}
  }}
}}
{extra}"#
    )
}

#[test]
fn static_targets_and_rules_without_any_auto_scaling_group() {
    let stop = Arc::new(AtomicBool::new(false));
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for (name, p) in ["one", "two", "three"].into_iter().zip(&ports) {
        static_server(SocketAddr::from(([127, 0, 0, 1], *p)), name, stop.clone());
    }
    let port = free_port();
    let base = config(port, &[("one", ports[0]), ("two", ports[1])], false);
    let stack = Stack::up("static", &base, port);
    stack.wait_for("2 healthy static targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 2
    });
    let addr = stack.addr();

    // Rules: forward, redirect, fixed-response default.
    let mut bodies: Vec<String> = (0..4).map(|_| get(addr, "/app/x").unwrap().2).collect();
    bodies.sort();
    assert_eq!(bodies, ["one", "one", "two", "two"]);
    let (status, headers, _) = get(addr, "/legacy/page").unwrap();
    assert_eq!(status, 302);
    assert_eq!(
        header(&headers, "location"),
        Some(format!("http://{addr}/app/legacy/page").as_str())
    );
    let (status, _, body) = get(addr, "/elsewhere").unwrap();
    assert_eq!((status, body.as_str()), (404, "no route"));

    // Load on /app/* while targets and rules change.
    let (sent, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let load_stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, sent, failed) = (load_stop.clone(), sent.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::Relaxed);
                if !matches!(get(addr, "/app/load"), Ok((200, _, _))) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let main_tf = stack.dir.0.join("main.tf");
    let apply = |text: &str| {
        std::fs::write(&main_tf, text).unwrap();
        let out = stack.cli(&["apply", main_tf.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Swap "two" for "three" (two drains) and add a rule.
    apply(&config(
        port,
        &[("one", ports[0]), ("three", ports[2])],
        true,
    ));
    stack.wait_for("one and three healthy", Duration::from_secs(30), |s| {
        let healthy = healthy_targets(s);
        healthy.len() == 2
            && !healthy
                .iter()
                .any(|(id, _)| id.ends_with(&ports[1].to_string()))
    });
    let (status, _, body) = get(addr, "/teapot").unwrap();
    assert_eq!((status, body.as_str()), (418, "short and stout"));
    let mut seen: Vec<String> = (0..6).map(|_| get(addr, "/app/x").unwrap().2).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["one", "three"]);
    // And back, rule removed.
    apply(&base);
    stack.wait_for("one and two healthy", Duration::from_secs(30), |s| {
        let healthy = healthy_targets(s);
        healthy.len() == 2
            && !healthy
                .iter()
                .any(|(id, _)| id.ends_with(&ports[2].to_string()))
    });
    assert_eq!(get(addr, "/teapot").unwrap().0, 404);

    // Keep the load on through the draining of "three" (deregistration_delay = 2 s).
    let start = std::time::Instant::now();
    while sent.load(Ordering::Relaxed) < 300 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    load_stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("{failed} of {sent} requests failed across two applies of static targets");
    assert!(sent >= 300, "the load loop barely ran: {sent}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");
    assert!(stack.down().success());
    stop.store(true, Ordering::Relaxed);
}
