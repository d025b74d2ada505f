//! The process provider against the real kernel: real shells, process groups, signals, /proc and
//! (when this host allows, e.g. as root) real cgroups. Every test kills what it starts, also when
//! an assertion fails (see `Running`).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use compute::{
    CgroupPaths, InstanceProcess, LaunchRequest, LimitSupport, ProcessProvider, ProcessStatus,
    ProviderConfig, procfs, tail_log,
};
use tokio::time::{Instant, sleep, timeout};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A private state directory and cgroup scope per test, removed at the end.
struct Fixture {
    provider: ProcessProvider,
    state_dir: PathBuf,
    next_id: AtomicU32,
}

impl Fixture {
    fn new(millicores_per_vcpu: u32) -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("updraft-compute-test-{}-{n}", std::process::id());
        let state_dir = std::env::temp_dir().join(&name);
        let mut config = ProviderConfig::new(&state_dir, name);
        config.millicores_per_vcpu = millicores_per_vcpu;
        Fixture {
            provider: ProcessProvider::new(config),
            state_dir,
            next_id: AtomicU32::new(1),
        }
    }

    fn request(&self, user_data: &str, instance_type: &str) -> LaunchRequest {
        LaunchRequest {
            id: model::InstanceId::from_bits(u128::from(
                self.next_id.fetch_add(1, Ordering::SeqCst),
            )),
            availability_zone: model::AvailabilityZone::new("us-east-1b"),
            host: Ipv4Addr::new(127, 0, 2, 9),
            port: 18080,
            user_data: user_data.to_owned(),
            instance_type: model::InstanceType::lookup(instance_type).unwrap(),
            env: vec![("EXTRA".into(), "it's here".into())],
        }
    }

    async fn launch(&self, user_data: &str, instance_type: &str) -> Running<'_> {
        let p = self
            .provider
            .launch(self.request(user_data, instance_type))
            .await
            .unwrap();
        Running {
            provider: &self.provider,
            p,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// A launched instance that is SIGKILLed on drop, so a failed assertion leaks no process.
struct Running<'a> {
    provider: &'a ProcessProvider,
    p: InstanceProcess,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.provider.kill(&self.p);
        // After a failed assertion, also remove the cgroup (the normal path has terminated
        // already). Drop cannot await, and the kernel frees a group only once its processes are
        // gone, hence the short blocking wait here and only here.
        if std::thread::panicking()
            && let Some(cgroup) = &self.p.cgroup
        {
            for _ in 0..100 {
                if compute::cgroup::remove(cgroup).is_ok() {
                    break;
                }
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

async fn wait_for_exit(provider: &ProcessProvider, p: &InstanceProcess) -> ProcessStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = provider.status(p);
        if status != ProcessStatus::Running || Instant::now() > deadline {
            return status;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// The pid a script printed as `child=<pid>`.
async fn child_pid(p: &InstanceProcess) -> u32 {
    for _ in 0..250 {
        if let Some(line) = tail_log(&p.log_path, 1).pop()
            && let Some(pid) = line.strip_prefix("child=")
        {
            return pid.parse().unwrap();
        }
        sleep(Duration::from_millis(20)).await;
    }
    panic!("no child pid in {}", p.log_path.display());
}

fn is_live(pid: u32) -> bool {
    procfs::read_stat(pid).is_some_and(|s| s.is_live())
}

#[tokio::test]
async fn an_instance_runs_then_exits_with_its_code() {
    timeout(TEST_TIMEOUT, async {
        let fx = Fixture::new(80);
        let i = fx.launch("sleep 0.3\nexit 3\n", "t3.micro").await;
        assert_eq!(fx.provider.status(&i.p), ProcessStatus::Running);
        assert_eq!(
            wait_for_exit(&fx.provider, &i.p).await,
            ProcessStatus::Exited {
                code: Some(3),
                signal: None
            }
        );
        fx.provider
            .terminate(&i.p, Duration::from_secs(1))
            .await
            .unwrap();
        assert_no_cgroup_left(&i.p);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_instance_sees_its_environment_and_logs_both_streams() {
    timeout(TEST_TIMEOUT, async {
        let fx = Fixture::new(80);
        let script = "echo \"id=$UPDRAFT_INSTANCE_ID az=$UPDRAFT_AZ host=$HOST port=$PORT extra=$EXTRA\"\n\
                      echo \"path=$PATH\"\necho oops >&2\nexit 0\n";
        let i = fx.launch(script, "t3.micro").await;
        assert_eq!(
            wait_for_exit(&fx.provider, &i.p).await,
            ProcessStatus::Exited { code: Some(0), signal: None }
        );
        let lines = tail_log(&i.p.log_path, 3);
        assert_eq!(
            lines[0],
            format!("id={} az=us-east-1b host=127.0.2.9 port=18080 extra=it's here", i.p.id)
        );
        let exe_dir = std::env::current_exe().unwrap().parent().unwrap().display().to_string();
        assert!(lines[1].starts_with(&format!("path={exe_dir}:")), "{}", lines[1]);
        assert_eq!(lines[2], "oops");
        let all = tail_log(&i.p.log_path, 100);
        assert!(all[0].starts_with("updraft: launching"), "{all:?}");
        assert!(i.p.log_path.starts_with(&fx.state_dir));
        fx.provider.terminate(&i.p, Duration::from_secs(1)).await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn terminate_stops_the_whole_group_and_escalates_to_sigkill() {
    timeout(TEST_TIMEOUT, async {
        let fx = Fixture::new(80);
        let polite = fx
            .launch("sleep 100 &\necho child=$!\nwait\n", "t3.micro")
            .await;
        let stubborn = fx
            .launch(
                "trap '' TERM\nsleep 100 &\necho child=$!\nwait\n",
                "t3.micro",
            )
            .await;
        let (c1, c2) = (child_pid(&polite.p).await, child_pid(&stubborn.p).await);
        assert!(is_live(c1) && is_live(c2));

        let started = Instant::now();
        fx.provider
            .terminate(&polite.p, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM was enough"
        );
        assert!(!is_live(c1), "the background child died with its group");
        assert_eq!(
            fx.provider.status(&polite.p),
            ProcessStatus::Exited {
                code: None,
                signal: Some(15)
            }
        );

        fx.provider
            .terminate(&stubborn.p, Duration::from_millis(300))
            .await
            .unwrap();
        assert!(!is_live(c2) && !is_live(stubborn.p.pid));
        assert_eq!(
            fx.provider.status(&stubborn.p),
            ProcessStatus::Exited {
                code: None,
                signal: Some(9)
            }
        );
        // Idempotent, and nothing left behind.
        fx.provider
            .terminate(&stubborn.p, Duration::from_millis(300))
            .await
            .unwrap();
        assert_no_cgroup_left(&polite.p);
        assert_no_cgroup_left(&stubborn.p);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn kill_is_immediate() {
    timeout(TEST_TIMEOUT, async {
        let fx = Fixture::new(80);
        let i = fx.launch("trap '' TERM\nsleep 100\n", "t3.micro").await;
        fx.provider.kill(&i.p).unwrap();
        assert_eq!(
            wait_for_exit(&fx.provider, &i.p).await,
            ProcessStatus::Exited {
                code: None,
                signal: Some(9)
            }
        );
        fx.provider.terminate(&i.p, Duration::ZERO).await.unwrap();
        assert_no_cgroup_left(&i.p);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn adopt_finds_live_processes_by_pid_and_start_time() {
    timeout(TEST_TIMEOUT, async {
        let fx = Fixture::new(80);
        let live = fx.launch("sleep 100\n", "t3.micro").await;
        let short = fx.launch("exit 0\n", "t3.micro").await;
        wait_for_exit(&fx.provider, &short.p).await;

        // A later run of updraft reads the records back from its store.
        let json = serde_json::to_string(&live.p).unwrap();
        let record: InstanceProcess = serde_json::from_str(&json).unwrap();
        let next_run = ProcessProvider::with_limits(
            fx.provider.config().clone(),
            fx.provider.limits().clone(),
        );

        let adopted = next_run
            .adopt(&record)
            .expect("the live instance is adopted");
        assert_eq!(adopted, live.p);
        assert_eq!(next_run.status(&adopted), ProcessStatus::Running);
        assert!(next_run.cpu_time(&adopted).is_some());
        assert_eq!(
            next_run.adopt(&short.p),
            None,
            "an exited pid is not adopted"
        );
        let recycled = InstanceProcess {
            start_time: record.start_time + 1,
            ..record.clone()
        };
        assert_eq!(next_run.adopt(&recycled), None, "same pid, other process");
        assert_eq!(next_run.status(&recycled), ProcessStatus::Gone);

        next_run
            .terminate(&adopted, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(next_run.status(&adopted), ProcessStatus::Gone);
        assert_eq!(next_run.adopt(&adopted), None);
        fx.provider
            .terminate(&short.p, Duration::ZERO)
            .await
            .unwrap();
        assert_no_cgroup_left(&live.p);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn cgroup_limits_are_written_and_enforced() {
    timeout(TEST_TIMEOUT, async {
        // t2.micro is 1 vCPU: at 50 millicores per vCPU it may use 5% of one core.
        let fx = Fixture::new(50);
        if let LimitSupport::Unavailable { reason } = fx.provider.limits() {
            println!("SKIPPED cgroup assertions: limits unavailable on this host: {reason}");
            return;
        }
        let i = fx.launch("while :; do :; done\n", "t2.micro").await;
        let cgroup =
            i.p.cgroup
                .clone()
                .expect("limits are available, so the instance has a cgroup");
        let read = |dir: &PathBuf, file: &str| {
            std::fs::read_to_string(dir.join(file))
                .unwrap()
                .trim()
                .to_owned()
        };
        match &cgroup {
            CgroupPaths::V1 { cpu, memory, .. } => {
                assert_eq!(read(cpu, "cpu.cfs_quota_us"), "5000");
                assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
                assert_eq!(
                    read(memory, "memory.limit_in_bytes"),
                    (1024u64 << 20).to_string()
                );
            }
            CgroupPaths::V2 { dir } => {
                assert_eq!(read(dir, "cpu.max"), "5000 100000");
                assert_eq!(read(dir, "memory.max"), (1024u64 << 20).to_string());
            }
        }
        // The wrapper shell joins the groups itself, a moment after launch returns.
        for dir in cgroup.dirs() {
            let joined = || {
                read(&dir.to_path_buf(), "cgroup.procs")
                    .lines()
                    .any(|l| l == i.p.pid.to_string())
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while !joined() && Instant::now() < deadline {
                sleep(Duration::from_millis(10)).await;
            }
            assert!(joined(), "{} is not in {}", i.p.pid, dir.display());
        }

        sleep(Duration::from_millis(300)).await;
        let (t0, w0) = (fx.provider.cpu_time(&i.p).unwrap(), Instant::now());
        sleep(Duration::from_millis(1200)).await;
        let (t1, w1) = (fx.provider.cpu_time(&i.p).unwrap(), Instant::now());
        let share = (t1 - t0).as_secs_f64() / (w1 - w0).as_secs_f64();
        println!(
            "CPU-burning instance at 50 millicores used {:.1}% of a core",
            share * 100.0
        );
        assert!(share > 0.0, "the instance ran");
        assert!(
            share < 0.20,
            "quota not enforced: {:.1}% of a core",
            share * 100.0
        );

        fx.provider
            .terminate(&i.p, Duration::from_secs(1))
            .await
            .unwrap();
        assert_no_cgroup_left(&i.p);
    })
    .await
    .unwrap();
}

fn assert_no_cgroup_left(p: &InstanceProcess) {
    if let Some(cgroup) = &p.cgroup {
        for dir in cgroup.dirs() {
            assert!(!dir.exists(), "{} was not removed", dir.display());
        }
    }
}

/// Lines in the instance's console log.
fn log_lines(p: &InstanceProcess) -> usize {
    std::fs::read_to_string(&p.log_path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Whether the log grows past `before` within a few seconds.
async fn grows(p: &InstanceProcess, before: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while log_lines(p) <= before && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    log_lines(p) > before
}

#[tokio::test]
async fn a_frozen_instance_stops_running_and_thaws_where_it_was() {
    timeout(TEST_TIMEOUT, async {
        let fx = Fixture::new(1000);
        // Prints a line every 50 ms: the log grows only while the instance runs.
        let i = fx
            .launch("while :; do echo tick; sleep 0.05; done\n", "t3.micro")
            .await;
        assert!(grows(&i.p, log_lines(&i.p)).await, "the instance runs");

        let how = fx.provider.freeze(&i.p).await.unwrap();
        println!("warm pool instances are stopped with {how:?} here");
        if let Some(cgroup) = &i.p.cgroup {
            assert_eq!(how, compute::Stopped::Frozen);
            assert!(cgroup.is_frozen(), "the kernel reports the group frozen");
        }
        // Anything printed while freezing has landed by now.
        sleep(Duration::from_millis(200)).await;
        let frozen_at = log_lines(&i.p);
        sleep(Duration::from_millis(500)).await;
        assert_eq!(
            log_lines(&i.p),
            frozen_at,
            "a frozen instance prints nothing"
        );
        assert_eq!(
            fx.provider.status(&i.p),
            ProcessStatus::Running,
            "frozen is not dead"
        );

        fx.provider.thaw(&i.p).unwrap();
        assert!(grows(&i.p, frozen_at).await, "it runs again after thawing");

        // Frozen again, it still terminates promptly (it is thawed to handle SIGTERM).
        fx.provider.freeze(&i.p).await.unwrap();
        let started = Instant::now();
        fx.provider
            .terminate(&i.p, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM was handled, no SIGKILL needed"
        );
        assert_no_cgroup_left(&i.p);
    })
    .await
    .unwrap();
}
