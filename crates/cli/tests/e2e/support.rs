//! Test harness: a stack brought up by the real binary in a temporary state directory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn updraft_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_updraft"))
}

/// Makes sure the `mylearning` binary sits next to `updraft` (instances run it from PATH).
/// `cargo test --workspace` builds it already; `cargo test -p cli` may not have.
pub fn ensure_mylearning() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = updraft_bin().parent().unwrap();
        if dir.join("mylearning").is_file() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "mylearning"])
            .status()
            .expect("run cargo build -p mylearning");
        assert!(status.success(), "building mylearning failed");
        assert!(
            dir.join("mylearning").is_file(),
            "mylearning not found in {}",
            dir.display()
        );
    });
}

/// A free TCP port on 127.0.0.1 (released again; the stack binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A unique temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("updraft-e2e-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test stack: three subnets in three AZs on a loopback block of its own (`127.<net>.z.0/24`),
/// an ALB on a free port, a target group with the fastest health checks AWS allows, a launch
/// template running `user_data`, and an ASG.
pub fn stack_config(net: u8, port: u16, desired: u32, user_data: &str) -> String {
    format!(
        r#"
provider "aws" {{
  region = "us-east-1"
}}

locals {{
  zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
}}

resource "aws_subnet" "z" {{
  count             = 3
  availability_zone = local.zones[count.index]
  cidr_block        = "127.{net}.${{count.index + 1}}.0/24"
}}

resource "aws_lb" "front" {{
  name               = "front"
  load_balancer_type = "application"
  subnets            = aws_subnet.z[*].id
}}

resource "aws_lb_target_group" "app" {{
  name                 = "app"
  port                 = 8080
  protocol             = "HTTP"
  deregistration_delay = 5
  health_check {{
    path                = "/health"
    interval            = 5
    timeout             = 2
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }}
}}

resource "aws_lb_listener" "http" {{
  load_balancer_arn = aws_lb.front.arn
  port              = {port}
  protocol          = "HTTP"
  default_action {{
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }}
}}

resource "aws_launch_template" "app" {{
  name          = "app"
  instance_type = "t3.micro"
  user_data     = base64encode(<<-EOT
    #!/bin/sh
    {user_data}
  EOT
  )
}}

resource "aws_autoscaling_group" "app" {{
  name                      = "app"
  min_size                  = 1
  max_size                  = 6
  desired_capacity          = {desired}
  vpc_zone_identifier       = aws_subnet.z[*].id
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 10
  launch_template {{
    id      = aws_launch_template.app.id
    version = "$Latest"
  }}
}}
"#
    )
}

/// A running `updraft up`.
pub struct Stack {
    pub dir: TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Stack {
    /// Writes `config` to a temp dir and runs `updraft up` on it.
    pub fn up(tag: &str, config: &str, port: u16) -> Stack {
        Self::up_with(tag, config, port, |_| {})
    }

    /// [`Stack::up`], after `prepare` has put files into the stack's directory.
    pub fn up_with(tag: &str, config: &str, port: u16, prepare: impl FnOnce(&Path)) -> Stack {
        ensure_mylearning();
        let dir = TempDir::new(tag);
        prepare(&dir.0);
        std::fs::write(dir.0.join("main.tf"), config).unwrap();
        let log = std::fs::File::create(dir.0.join("up.log")).unwrap();
        let child = Command::new(updraft_bin())
            .arg("--state-dir")
            .arg(dir.0.join("state"))
            .arg("up")
            .arg(dir.0.join("main.tf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Stack {
            dir,
            port,
            child: Some(child),
        }
    }

    /// The pid of the `updraft up` process.
    pub fn daemon_pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Runs `updraft up` again on the same state directory and config (after a crash).
    pub fn restart(&mut self) {
        if let Some(mut old) = self.child.take() {
            let _ = old.wait();
        }
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.0.join("up.log"))
            .unwrap();
        self.child = Some(
            Command::new(updraft_bin())
                .arg("--state-dir")
                .arg(self.dir.0.join("state"))
                .arg("up")
                .arg(self.dir.0.join("main.tf"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("up.log")).unwrap_or_default()
    }

    /// Runs another `updraft` command against this stack.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(updraft_bin())
            .arg("--state-dir")
            .arg(self.dir.0.join("state"))
            .args(args)
            .output()
            .unwrap()
    }

    /// `updraft status --json`, once the daemon answers.
    pub fn status(&self) -> Option<Value> {
        let out = self.cli(&["status", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Polls status until `pred` holds, or panics with the log after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(s) = self.status()
                && pred(&s)
            {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}\nstatus: {}\nlog:\n{}",
                self.cli(&["status"]).stdout.escape_ascii(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `updraft down`, then wait for `up` to exit.
    pub fn down(mut self) -> ExitStatus {
        let out = self.cli(&["down"]);
        assert!(
            out.status.success(),
            "down failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_exit(Duration::from_secs(30))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "updraft did not exit in {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The load balancer's listener address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // A failed test must not leave instances behind: ask for down, then SIGTERM the daemon.
        if let Some(mut child) = self.child.take() {
            let _ = self.cli(&["down"]);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }
}

/// Response headers, names lowercased.
pub type Headers = Vec<(String, String)>;

/// One plain HTTP/1.1 GET with `Connection: close`. Returns (status, headers, body).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Headers, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Healthy targets in the target group, by AZ.
pub fn healthy_targets(status: &Value) -> Vec<(String, String)> {
    status["target_groups"][0]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "healthy")
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                t["availability_zone"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// Pids of the group's instances.
pub fn instance_pids(status: &Value) -> Vec<u32> {
    status["auto_scaling_groups"][0]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["pid"].as_u64().map(|p| p as u32))
        .collect()
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie has exited; /proc/<pid>/stat field 3 says so.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// A target-tracking policy on the group `app`: average CPU at 50 %.
pub const CPU_TARGET_50: &str = r#"
resource "aws_autoscaling_policy" "cpu" {
  name                   = "cpu-target-50"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = 50
  }
}
"#;
