//! Target group algorithms and stickiness through a real data plane.

use std::collections::HashMap;
use std::time::Duration;

use model::{Algorithm, Stickiness};

use crate::support::*;

/// `clients` concurrent clients each send `each` GETs; answers counted by backend name.
async fn load(lb: std::net::SocketAddr, clients: usize, each: usize) -> HashMap<String, usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(async move { spread(lb, each).await });
    }
    let mut total = HashMap::new();
    while let Some(seen) = tasks.join_next().await {
        for (k, v) in seen.unwrap() {
            *total.entry(k).or_insert(0) += v;
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_outstanding_requests_avoids_a_slow_target() {
    bounded(async {
        let (fast, slow) = (Backend::start("fast").await, Backend::start("slow").await);
        slow.set_delay(300);
        let mut s = single(&[&fast, &slow], health_check(100));
        s.target_groups[0].spec.algorithm = Algorithm::LeastOutstandingRequests;
        let (plane, lb) = start(s).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;
        let seen = load(lb, 8, 25).await;
        let slow_share = seen.get("slow").copied().unwrap_or(0);
        // Round robin would send it 100 of 200; it can hold one request per client at most
        // while the others go to the idle fast target.
        assert!(slow_share <= 20, "{seen:?}");
        assert_eq!(seen.values().sum::<usize>(), 200);

        // The same load with round robin: the slow target gets its half.
        let mut s = single(&[&fast, &slow], health_check(100));
        s.target_groups[0].spec.algorithm = Algorithm::RoundRobin;
        plane.apply(s).await.unwrap();
        slow.set_delay(20);
        let seen = load(lb, 4, 10).await;
        assert_eq!(seen.get("slow"), Some(&20), "{seen:?}");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_random_spreads_over_every_target() {
    bounded(async {
        let (a, b, c) = (
            Backend::start("a").await,
            Backend::start("b").await,
            Backend::start("c").await,
        );
        let mut s = single(&[&a, &b, &c], health_check(100));
        s.target_groups[0].spec.algorithm = Algorithm::WeightedRandom;
        let (plane, lb) = start(s).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;
        let seen = spread(lb, 300).await;
        // Expected 100 each; a fair coin is far inside these bounds.
        assert!(seen.values().all(|&n| (50..=150).contains(&n)), "{seen:?}");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_cookie_stickiness_survives_scale_out() {
    bounded(async {
        let mut backends = Vec::new();
        for n in ["a", "b", "c", "d", "e", "f"] {
            backends.push(Backend::start(n).await);
        }
        let sticky = |n: usize| {
            let refs: Vec<&Backend> = backends[..n].iter().collect();
            let mut s = single(&refs, health_check(100));
            s.target_groups[0].spec.stickiness = Some(Stickiness::LbCookie {
                duration: Duration::from_secs(3600),
            });
            s
        };
        let (plane, lb) = start(sticky(2)).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;
        let c = client();
        // Ten clients, each remembers its cookie and its backend.
        let mut clients = Vec::new();
        for _ in 0..10 {
            let a = get(&c, lb, "/").await;
            let set = a.headers["set-cookie"].to_str().unwrap().to_owned();
            assert!(
                set.starts_with("AWSALB=") && set.contains("Max-Age=3600"),
                "{set}"
            );
            let cookie = set.split(';').next().unwrap().to_owned();
            clients.push((cookie, a.body));
        }
        assert!(clients.iter().any(|(_, b)| b == "a") && clients.iter().any(|(_, b)| b == "b"));

        // Scale out to six targets.
        plane.apply(sticky(6)).await.unwrap();
        eventually("all targets healthy", || all_healthy(&plane)).await;
        for (cookie, backend) in &clients {
            for _ in 0..3 {
                let req = http::Request::get(format!("http://{lb}/"))
                    .header("cookie", cookie.as_str())
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap();
                let resp = c.request(req).await.unwrap();
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                assert_eq!(&body[..], backend.as_bytes(), "cookie {cookie}");
            }
        }
        // New clients still spread over all six.
        let seen = spread(lb, 12).await;
        assert_eq!(seen.len(), 6, "{seen:?}");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}
