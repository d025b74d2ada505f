//! The daemon's local API: JSON over HTTP/1.1 on a loopback port, used by the CLI
//! (`updraft status`, `scale`, `down`, …). The address is written to `daemon.json` in the state
//! directory.
//!
//! | method | path | body / answer |
//! |---|---|---|
//! | GET | `/v1/status` | [`StackStatus`](crate::views::StackStatus) |
//! | PUT | `/v1/auto-scaling-groups/{name}/desired-capacity` | `{"desired_capacity": n}` |
//! | GET | `/v1/auto-scaling-groups/{name}/activities?limit=n` | `[Activity]`, newest first |
//! | PUT | `/v1/auto-scaling-groups/{name}/instance-protection` | [`InstanceProtection`] → `{"instance_ids": [...]}` |
//! | POST | `/v1/auto-scaling-groups/{name}/lifecycle-hooks/{hook}/complete` | [`CompleteLifecycleAction`] → [`LifecycleActionAnswer`] |
//! | POST | `/v1/auto-scaling-groups/{name}/lifecycle-hooks/{hook}/heartbeat` | [`LifecycleHeartbeat`] → [`LifecycleActionAnswer`] |
//! | POST | `/v1/auto-scaling-groups/{name}/instance-refreshes` | [`RefreshOverrides`] → the new [`InstanceRefresh`] |
//! | GET | `/v1/auto-scaling-groups/{name}/instance-refreshes` | `[InstanceRefresh]`, newest first |
//! | DELETE | `/v1/auto-scaling-groups/{name}/instance-refreshes` | cancels the active one → [`InstanceRefresh`] |
//! | GET | `/v1/stack` | the applied [`model::Stack`] |
//! | POST | `/v1/metrics` | [`MetricsQuery`](crate::metrics_api::MetricsQuery) → `[MetricView]` |
//! | GET | `/v1/alarms` | `[AlarmView]` (state, reason, metric, actions) |
//! | PUT | `/v1/stack` | [`ApplyRequest`] → [`config::Plan`] (`updraft apply`) |
//! | POST | `/v1/shutdown` | stops the stack (`updraft down`) |
//! | POST | `/v1/drills` | [`DrillRequest`](crate::chaos::DrillRequest) → [`Drill`](crate::chaos::Drill) (`updraft chaos …`) |
//! | GET | `/v1/drills` | `[Drill]`, newest first |
//! | GET | `/v1/drills/{id}` | [`Drill`](crate::chaos::Drill); its `report()` is the drill report |
//! | DELETE | `/v1/drills/{id}` | ends the drill early and undoes it → `Drill` |
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::controller::{ControllerHandle, LifecycleActionAnswer, RefreshOverrides};
use scaling::InstanceRefresh;

/// Largest request body the API reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// `PUT …/desired-capacity` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct DesiredCapacity {
    pub desired_capacity: u32,
}

/// `PUT …/instance-protection` body (`SetInstanceProtection`).
#[derive(Debug, Serialize, Deserialize)]
pub struct InstanceProtection {
    pub instance_ids: Vec<String>,
    pub protected_from_scale_in: bool,
}

/// `POST …/lifecycle-hooks/{hook}/complete` body (`CompleteLifecycleAction`).
#[derive(Debug, Serialize, Deserialize)]
pub struct CompleteLifecycleAction {
    pub instance_id: String,
    pub lifecycle_action_result: model::LifecycleActionResult,
}

/// `POST …/lifecycle-hooks/{hook}/heartbeat` body (`RecordLifecycleActionHeartbeat`).
#[derive(Debug, Serialize, Deserialize)]
pub struct LifecycleHeartbeat {
    pub instance_id: String,
}

/// The answer to `SetInstanceProtection`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProtectedInstances {
    pub instance_ids: Vec<model::InstanceId>,
    pub protected_from_scale_in: bool,
}

/// `PUT /v1/stack` body: a configuration the CLI has loaded and validated.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The config path, as the user named it.
    pub label: String,
    pub stack: model::Stack,
    pub sources: model::SourceMap,
}

/// The error body of every failed call.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// Where in the configuration the problem is, when it is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<model::Location>,
}

/// Serves the API until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    handle: ControllerHandle,
    stop: watch::Sender<bool>,
    databases: std::sync::Arc<crate::databases::Databases>,
) {
    let mut shutdown = stop.subscribe();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "API accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let handle = handle.clone();
        let stop = stop.clone();
        let databases = databases.clone();
        tokio::spawn(async move {
            let service =
                service_fn(move |req| route(req, handle.clone(), stop.clone(), databases.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(
    req: Request<Incoming>,
    handle: ControllerHandle,
    stop: watch::Sender<bool>,
    databases: std::sync::Arc<crate::databases::Databases>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let answer = match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "status"]) => match handle.status().await {
            Some(s) => json(StatusCode::OK, &s),
            None => unavailable(),
        },
        (&Method::PUT, ["v1", "auto-scaling-groups", name, "desired-capacity"]) => {
            let name = (*name).to_owned();
            match read_json::<DesiredCapacity>(req).await {
                Err(resp) => resp,
                Ok(body) => match handle
                    .set_desired_capacity(&name, body.desired_capacity)
                    .await
                {
                    Ok(n) => json(
                        StatusCode::OK,
                        &DesiredCapacity {
                            desired_capacity: n,
                        },
                    ),
                    Err(message) => error(StatusCode::BAD_REQUEST, "ValidationError", &message),
                },
            }
        }
        (&Method::GET, ["v1", "auto-scaling-groups", name, "activities"]) => {
            let limit = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("limit="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(50usize)
                .min(1000);
            match handle.activities(name, limit).await {
                Ok(a) => json(StatusCode::OK, &a),
                Err(message) => error(StatusCode::NOT_FOUND, "ValidationError", &message),
            }
        }
        (&Method::PUT, ["v1", "auto-scaling-groups", name, "instance-protection"]) => {
            let name = (*name).to_owned();
            match read_json::<InstanceProtection>(req).await {
                Err(resp) => resp,
                Ok(body) => answer(
                    handle
                        .set_instance_protection(
                            &name,
                            body.instance_ids,
                            body.protected_from_scale_in,
                        )
                        .await
                        .map(|ids| ProtectedInstances {
                            instance_ids: ids,
                            protected_from_scale_in: body.protected_from_scale_in,
                        }),
                ),
            }
        }
        (
            &Method::POST,
            [
                "v1",
                "auto-scaling-groups",
                name,
                "lifecycle-hooks",
                hook,
                verb,
            ],
        ) => {
            let (name, hook, verb) = ((*name).to_owned(), (*hook).to_owned(), *verb);
            match verb {
                "complete" => match read_json::<CompleteLifecycleAction>(req).await {
                    Err(resp) => resp,
                    Ok(b) => answer::<LifecycleActionAnswer>(
                        handle
                            .lifecycle_action(
                                &name,
                                &hook,
                                &b.instance_id,
                                Some(b.lifecycle_action_result),
                            )
                            .await,
                    ),
                },
                "heartbeat" => match read_json::<LifecycleHeartbeat>(req).await {
                    Err(resp) => resp,
                    Ok(b) => answer::<LifecycleActionAnswer>(
                        handle
                            .lifecycle_action(&name, &hook, &b.instance_id, None)
                            .await,
                    ),
                },
                other => error(
                    StatusCode::NOT_FOUND,
                    "UnknownOperation",
                    &format!("no lifecycle hook operation `{other}` (complete, heartbeat)"),
                ),
            }
        }
        (&Method::POST, ["v1", "auto-scaling-groups", name, "instance-refreshes"]) => {
            let name = (*name).to_owned();
            match read_json::<RefreshOverrides>(req).await {
                Err(resp) => resp,
                Ok(o) => answer::<InstanceRefresh>(handle.start_instance_refresh(&name, o).await),
            }
        }
        (&Method::GET, ["v1", "auto-scaling-groups", name, "instance-refreshes"]) => {
            answer(handle.instance_refreshes(name).await)
        }
        (&Method::DELETE, ["v1", "auto-scaling-groups", name, "instance-refreshes"]) => {
            answer::<InstanceRefresh>(handle.cancel_instance_refresh(name).await)
        }
        (&Method::POST, ["v1", "metrics"]) => {
            match read_json::<crate::metrics_api::MetricsQuery>(req).await {
                Err(resp) => resp,
                Ok(q) => match handle.metrics(q).await {
                    Ok(m) => json(StatusCode::OK, &m),
                    Err(message) => {
                        error(StatusCode::BAD_REQUEST, "InvalidParameterValue", &message)
                    }
                },
            }
        }
        (&Method::GET, ["v1", "alarms"]) => match handle.alarms().await {
            Some(a) => json(StatusCode::OK, &a),
            None => unavailable(),
        },
        (&Method::GET, ["v1", "stack"]) => match handle.stack().await {
            Some(s) => json(StatusCode::OK, &s),
            None => unavailable(),
        },
        (&Method::PUT, ["v1", "stack"]) => match read_json::<ApplyRequest>(req).await {
            Err(resp) => resp,
            Ok(body) => match handle.apply(body.stack, body.sources, body.label).await {
                Ok(plan) => json(StatusCode::OK, &plan),
                Err(refused) => json(
                    StatusCode::CONFLICT,
                    &ApiError {
                        error: ErrorDetail {
                            code: "ApplyRefused".into(),
                            message: refused.message,
                            location: refused.location,
                        },
                    },
                ),
            },
        },
        (&Method::POST, ["v1", "drills"]) => {
            match read_json::<crate::chaos::DrillRequest>(req).await {
                Err(resp) => resp,
                Ok(body) => match handle.start_drill(body.spec).await {
                    Ok(d) => json(StatusCode::CREATED, &d),
                    Err(message) => error(StatusCode::BAD_REQUEST, "ValidationError", &message),
                },
            }
        }
        (&Method::GET, ["v1", "drills"]) => match handle.drills().await {
            Ok(d) => json(StatusCode::OK, &d),
            Err(message) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                &message,
            ),
        },
        (&Method::GET, ["v1", "drills", id]) => match handle.drill(id).await {
            Ok(d) => json(StatusCode::OK, &d),
            Err(message) => error(StatusCode::NOT_FOUND, "ResourceNotFound", &message),
        },
        (&Method::DELETE, ["v1", "drills", id]) => match handle.stop_drill(id).await {
            Ok(d) => json(StatusCode::OK, &d),
            Err(message) => error(StatusCode::NOT_FOUND, "ResourceNotFound", &message),
        },
        (&Method::GET, ["v1", "databases"]) => json(StatusCode::OK, &databases.statuses()),
        (_, ["v1", "databases", name, rest @ ..]) => {
            database_route(&databases, &method, name, rest, &query).await
        }
        (&Method::POST, ["v1", "shutdown"]) => {
            let _ = stop.send(true);
            json(StatusCode::ACCEPTED, &serde_json::json!({"stopping": true}))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "UnknownOperation",
            &format!("no API operation {method} {path}"),
        ),
    };
    Ok(answer)
}

/// `/v1/databases/{name}/…`.
async fn database_route(
    databases: &crate::databases::Databases,
    method: &Method,
    name: &str,
    rest: &[&str],
    query: &str,
) -> Response<Full<Bytes>> {
    let Some(db) = databases.find(name) else {
        let names = databases.names();
        return error(
            StatusCode::NOT_FOUND,
            "DBInstanceNotFound",
            &format!(
                "no database `{name}` in this stack; databases: {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ),
        );
    };
    match (method, rest) {
        (&Method::GET, ["events"]) => {
            let limit = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("limit="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(50usize)
                .min(1000);
            json(StatusCode::OK, &db.events(limit).await)
        }
        (&Method::POST, ["failover"]) => match db.switchover().await {
            Ok(message) => json(StatusCode::OK, &serde_json::json!({ "message": message })),
            Err(message) => error(StatusCode::CONFLICT, "InvalidDBInstanceState", &message),
        },
        (&Method::POST, ["kill-primary"]) => match db.kill_primary().await {
            Ok(k) => json(StatusCode::OK, &k),
            Err(message) => error(StatusCode::CONFLICT, "InvalidDBInstanceState", &message),
        },
        (&Method::POST, ["nodes", node, "kill"]) => match db.kill_node(node).await {
            Ok(k) => json(StatusCode::OK, &k),
            Err(message) => error(StatusCode::CONFLICT, "InvalidDBInstanceState", &message),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "UnknownOperation",
            &format!("no database operation {method} {}", rest.join("/")),
        ),
    }
}

async fn read_json<T: for<'de> Deserialize<'de>>(
    req: Request<Incoming>,
) -> Result<T, Response<Full<Bytes>>> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()))
}

/// 200 with the value, or 400 `ValidationError` with the controller's message.
fn answer<T: Serialize>(result: Result<T, String>) -> Response<Full<Bytes>> {
    match result {
        Ok(v) => json(StatusCode::OK, &v),
        Err(message) => error(StatusCode::BAD_REQUEST, "ValidationError", &message),
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("static response parts are valid")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &ApiError {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                location: None,
            },
        },
    )
}

fn unavailable() -> Response<Full<Bytes>> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the stack is shutting down",
    )
}

/// Where the API listens: loopback, a free port.
pub(crate) async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
