//! The CLI's side of the local API (see [`crate::api`]).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use crate::api::{
    ApiError, ApplyRequest, CompleteLifecycleAction, DesiredCapacity, InstanceProtection,
    LifecycleHeartbeat, ProtectedInstances,
};
use crate::controller::{LifecycleActionAnswer, RefreshOverrides};
use crate::daemon::DaemonInfo;
use crate::store::Activity;
use crate::views::StackStatus;
use scaling::InstanceRefresh;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no stack is running from state directory {state_dir} (start one with `updraft up`, or pass the --state-dir it uses)"
    )]
    NotRunning { state_dir: String },
    #[error("cannot reach the updraft daemon at {addr}: {source} (is `updraft up` still running?)")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the updraft daemon at {addr} did not answer: {message}")]
    Protocol { addr: SocketAddr, message: String },
    /// The daemon answered with an error (a validation error, say): its message.
    #[error("{message}{}", location.as_ref().map(|l| format!("\n  --> {l}")).unwrap_or_default())]
    Api {
        code: String,
        message: String,
        location: Option<model::Location>,
    },
}

/// A client for one daemon.
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: SocketAddr,
}

impl ApiClient {
    pub fn new(addr: SocketAddr) -> Self {
        ApiClient { addr }
    }

    /// The client for the daemon running from `state_dir`.
    pub fn for_state_dir(state_dir: &Path) -> Result<Self, ClientError> {
        let info = DaemonInfo::read(state_dir)
            .filter(DaemonInfo::is_alive)
            .ok_or_else(|| ClientError::NotRunning {
                state_dir: state_dir.display().to_string(),
            })?;
        Ok(ApiClient::new(info.api))
    }

    pub async fn metrics(
        &self,
        query: &crate::metrics_api::MetricsQuery,
    ) -> Result<Vec<crate::metrics_api::MetricView>, ClientError> {
        self.call(Method::POST, "/v1/metrics", Some(query)).await
    }

    pub async fn alarms(&self) -> Result<Vec<scaling::autoscaler::AlarmView>, ClientError> {
        self.call(Method::GET, "/v1/alarms", None::<&()>).await
    }

    pub async fn status(&self) -> Result<StackStatus, ClientError> {
        self.call(Method::GET, "/v1/status", None::<&()>).await
    }

    pub async fn set_desired_capacity(
        &self,
        group: &str,
        desired: u32,
    ) -> Result<u32, ClientError> {
        let body = DesiredCapacity {
            desired_capacity: desired,
        };
        let path = format!("/v1/auto-scaling-groups/{group}/desired-capacity");
        let answer: DesiredCapacity = self.call(Method::PUT, &path, Some(&body)).await?;
        Ok(answer.desired_capacity)
    }

    pub async fn activities(
        &self,
        group: &str,
        limit: usize,
    ) -> Result<Vec<Activity>, ClientError> {
        let path = format!("/v1/auto-scaling-groups/{group}/activities?limit={limit}");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `SetInstanceProtection` for instances of `group`.
    pub async fn set_instance_protection(
        &self,
        group: &str,
        instance_ids: Vec<String>,
        protected: bool,
    ) -> Result<ProtectedInstances, ClientError> {
        let body = InstanceProtection {
            instance_ids,
            protected_from_scale_in: protected,
        };
        let path = format!("/v1/auto-scaling-groups/{group}/instance-protection");
        self.call(Method::PUT, &path, Some(&body)).await
    }

    /// `CompleteLifecycleAction`.
    pub async fn complete_lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
        result: model::LifecycleActionResult,
    ) -> Result<LifecycleActionAnswer, ClientError> {
        let body = CompleteLifecycleAction {
            instance_id: instance_id.to_owned(),
            lifecycle_action_result: result,
        };
        let path = format!("/v1/auto-scaling-groups/{group}/lifecycle-hooks/{hook}/complete");
        self.call(Method::POST, &path, Some(&body)).await
    }

    /// `RecordLifecycleActionHeartbeat`.
    pub async fn lifecycle_heartbeat(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
    ) -> Result<LifecycleActionAnswer, ClientError> {
        let body = LifecycleHeartbeat {
            instance_id: instance_id.to_owned(),
        };
        let path = format!("/v1/auto-scaling-groups/{group}/lifecycle-hooks/{hook}/heartbeat");
        self.call(Method::POST, &path, Some(&body)).await
    }

    /// `StartInstanceRefresh`.
    pub async fn start_instance_refresh(
        &self,
        group: &str,
        overrides: &RefreshOverrides,
    ) -> Result<InstanceRefresh, ClientError> {
        let path = format!("/v1/auto-scaling-groups/{group}/instance-refreshes");
        self.call(Method::POST, &path, Some(overrides)).await
    }

    /// `DescribeInstanceRefreshes`, newest first.
    pub async fn instance_refreshes(
        &self,
        group: &str,
    ) -> Result<Vec<InstanceRefresh>, ClientError> {
        let path = format!("/v1/auto-scaling-groups/{group}/instance-refreshes");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `CancelInstanceRefresh`.
    pub async fn cancel_instance_refresh(
        &self,
        group: &str,
    ) -> Result<InstanceRefresh, ClientError> {
        let path = format!("/v1/auto-scaling-groups/{group}/instance-refreshes");
        self.call(Method::DELETE, &path, None::<&()>).await
    }

    /// The stack as the daemon runs it.
    pub async fn stack(&self) -> Result<model::Stack, ClientError> {
        self.call(Method::GET, "/v1/stack", None::<&()>).await
    }

    /// Applies a loaded configuration to the running stack; returns what changed.
    pub async fn apply(
        &self,
        loaded: &config::Loaded,
        label: &str,
    ) -> Result<config::Plan, ClientError> {
        let body = ApplyRequest {
            label: label.to_owned(),
            stack: loaded.stack.clone(),
            sources: loaded.sources.clone(),
        };
        self.call(Method::PUT, "/v1/stack", Some(&body)).await
    }

    /// Starts a failure drill; the answer is the drill as it started.
    pub async fn start_drill(
        &self,
        spec: crate::chaos::DrillSpec,
    ) -> Result<crate::chaos::Drill, ClientError> {
        let body = crate::chaos::DrillRequest { spec };
        self.call(Method::POST, "/v1/drills", Some(&body)).await
    }

    pub async fn drill(&self, id: &str) -> Result<crate::chaos::Drill, ClientError> {
        self.call(Method::GET, &format!("/v1/drills/{id}"), None::<&()>)
            .await
    }

    pub async fn drills(&self) -> Result<Vec<crate::chaos::Drill>, ClientError> {
        self.call(Method::GET, "/v1/drills", None::<&()>).await
    }

    /// Ends a drill early and undoes it.
    pub async fn stop_drill(&self, id: &str) -> Result<crate::chaos::Drill, ClientError> {
        self.call(Method::DELETE, &format!("/v1/drills/{id}"), None::<&()>)
            .await
    }

    /// Every managed database's status.
    pub async fn databases(&self) -> Result<Vec<database::controller::ClusterStatus>, ClientError> {
        self.call(Method::GET, "/v1/databases", None::<&()>).await
    }

    pub async fn database_events(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<database::controller::DbEvent>, ClientError> {
        let path = format!("/v1/databases/{name}/events?limit={limit}");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// Manual switchover; the answer says what started.
    pub async fn database_failover(&self, name: &str) -> Result<String, ClientError> {
        let path = format!("/v1/databases/{name}/failover");
        let v: serde_json::Value = self.call(Method::POST, &path, None::<&()>).await?;
        Ok(v["message"].as_str().unwrap_or_default().to_owned())
    }

    /// SIGKILLs the primary's process group (`updraft chaos kill-db-primary`).
    pub async fn kill_db_primary(
        &self,
        name: &str,
    ) -> Result<database::controller::Killed, ClientError> {
        let path = format!("/v1/databases/{name}/kill-primary");
        self.call(Method::POST, &path, None::<&()>).await
    }

    pub async fn kill_db_node(
        &self,
        name: &str,
        node: &str,
    ) -> Result<database::controller::Killed, ClientError> {
        let path = format!("/v1/databases/{name}/nodes/{node}/kill");
        self.call(Method::POST, &path, None::<&()>).await
    }

    pub async fn shutdown(&self) -> Result<(), ClientError> {
        let _: serde_json::Value = self.call(Method::POST, "/v1/shutdown", None::<&()>).await?;
        Ok(())
    }

    async fn call<B: Serialize, T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let protocol = |message: String| ClientError::Protocol {
            addr: self.addr,
            message,
        };
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(self.addr),
        )
        .await
        .map_err(|_| ClientError::Connect {
            addr: self.addr,
            source: std::io::ErrorKind::TimedOut.into(),
        })?
        .map_err(|source| ClientError::Connect {
            addr: self.addr,
            source,
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| protocol(e.to_string()))?;
        tokio::spawn(conn);
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| protocol(e.to_string()))?,
            None => Vec::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| protocol(e.to_string()))?;
        let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
            .await
            .map_err(|_| protocol("timed out after 30 s".into()))?
            .map_err(|e| protocol(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| protocol(e.to_string()))?
            .to_bytes();
        if status.is_success() || status == StatusCode::ACCEPTED {
            serde_json::from_slice(&body).map_err(|e| protocol(format!("bad answer: {e}")))
        } else {
            match serde_json::from_slice::<ApiError>(&body) {
                Ok(e) => Err(ClientError::Api {
                    code: e.error.code,
                    message: e.error.message,
                    location: e.error.location,
                }),
                Err(_) => Err(protocol(format!("HTTP {status}"))),
            }
        }
    }
}
