//! Idle keep-alive connections park (they leave their task after half a second of quiet and
//! wait, socket only, in their listener's keeper): they must be served again, still count as
//! active connections, time out, and close with their listener.

use std::time::Duration;

use super::http1::{assert_echo, get, through};
use crate::support::raw::*;
use crate::support::*;

fn active(plane: &proxy::DataPlane) -> u64 {
    listeners(plane, |l| l.active_connections)
}

fn parked(plane: &proxy::DataPlane) -> u64 {
    listeners(plane, |l| l.parked_connections)
}

/// A listener counter, summed over the listeners.
fn listeners(plane: &proxy::DataPlane, count: impl Fn(&proxy::ListenerTraffic) -> u64) -> u64 {
    plane.traffic().listeners.iter().map(count).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_connections_are_served_again_and_stay_counted() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, Duration::from_secs(20)).await;
        let mut clients = Vec::new();
        for i in 0..20 {
            let mut c = RawClient::connect(lb).await;
            let path = format!("/first/{i}");
            assert_echo(&c.request(&get(&path)).await, "GET", &path, b"");
            clients.push(c);
        }
        // Parked, served again, parked again: the keeper's slots are reused.
        for round in 0..2 {
            eventually("the idle connections are parked", || parked(&plane) == 20).await;
            assert_eq!(active(&plane), 20, "parked connections are still active");
            for (i, c) in clients.iter_mut().enumerate() {
                let path = format!("/again/{round}/{i}");
                assert_echo(&c.request(&get(&path)).await, "GET", &path, b"");
            }
            assert!(parked(&plane) < 20, "served connections are not parked");
        }
        drop(clients);
        eventually("closed connections are no longer counted", || {
            active(&plane) == 0 && parked(&plane) == 0
        })
        .await;
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_connection_times_out_and_closes_with_its_listener() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, Duration::from_secs(2)).await;
        let mut timed_out = RawClient::connect(lb).await;
        assert_echo(&timed_out.request(&get("/a")).await, "GET", "/a", b"");
        eventually("the connection is parked", || parked(&plane) == 1).await;
        // Then past the 2 s idle timeout.
        assert!(
            timed_out.closed().await,
            "a parked connection outlived its idle timeout"
        );
        eventually("the closed connection is no longer parked", || {
            parked(&plane) == 0
        })
        .await;

        let (plane2, lb2) = through(&backend, Duration::from_secs(60)).await;
        let mut c = RawClient::connect(lb2).await;
        assert_echo(&c.request(&get("/b")).await, "GET", "/b", b"");
        eventually("the connection is parked", || parked(&plane2) == 1).await;
        plane2.shutdown(Duration::from_secs(5)).await;
        assert!(
            c.closed().await,
            "a parked connection outlived its listener"
        );
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}
