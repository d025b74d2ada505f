//! MyLearning's HTTP routes. Every response, errors included, names the instance and AZ that
//! served it (`x-updraft-instance`, `x-updraft-az`), so load-balancing is visible from outside.
//!
//! | route | what |
//! |---|---|
//! | `GET /health` | `ok` — the process serves (no database check: a failover must not eject every instance) |
//! | `GET /health/deep` | the store answers (both database endpoints) |
//! | `GET /` | the catalogue page |
//! | `GET /static/app.css`, `/static/app.js` | static assets (`Cache-Control`, `ETag`, `304`) |
//! | `GET /api/courses`, `/api/courses/{id}` | the catalogue (reader endpoint) |
//! | `POST /api/session` `{"name"}` / `GET` / `DELETE` | sign in (a signed cookie), who am I, sign out |
//! | `POST /api/courses/{id}/enrol` | enrol the signed-in user (writer) |
//! | `GET /api/me/enrolments`, `/api/me/attempts` | the user's enrolments and graded attempts |
//! | `POST /api/quiz/grade` `{"answers", "work", "course"}` | CPU-heavy grading; recorded when signed in |

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{
    CACHE_CONTROL, CONTENT_TYPE, COOKIE, ETAG, HeaderValue, IF_NONE_MATCH, SET_COOKIE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::grade::{self, GradeRequest};
use crate::session::{Session, Sessions, valid_user};
use crate::store::{Attempt, Store, StoreError};
use crate::{assets, catalogue};

/// Largest request body accepted (a quiz submission is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// Who is serving: from `UPDRAFT_INSTANCE_ID` and `UPDRAFT_AZ`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub instance: String,
    pub az: String,
}

/// Everything a request may use.
pub struct App {
    pub id: Identity,
    pub store: Store,
    pub sessions: Sessions,
    /// Grading held to a CPU allowance (`MYLEARNING_CPU_MILLICORES`), when set.
    pub pacer: Option<crate::pacer::Pacer>,
}

/// Answers one request. `now` is the wall time in seconds (sessions, enrolment times).
pub async fn handle<B>(req: Request<B>, app: &App, now: i64) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut resp = route(req, app, now).await;
    let headers = resp.headers_mut();
    headers.insert("x-updraft-instance", header_value(&app.id.instance));
    headers.insert("x-updraft-az", header_value(&app.id.az));
    resp
}

async fn route<B>(req: Request<B>, app: &App, now: i64) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let id = &app.id;
    let path = req.uri().path().to_owned();
    let session = req
        .headers()
        .get(COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| app.sessions.read(c, now));
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/health") => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
        (Method::GET, "/health/deep") => match app.store.ping().await {
            Ok(()) => json_response(
                StatusCode::OK,
                &json!({ "store": app.store.describe(), "ok": true }),
            ),
            Err(e) => unavailable(e),
        },
        (Method::GET, "/") => match app.store.courses().await {
            Ok(courses) => respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                catalogue::page(&courses, &id.instance, &id.az),
            ),
            Err(e) => unavailable(e),
        },
        (Method::GET, p) if p.starts_with("/static/") => static_asset(&req, p),
        (Method::GET, "/api/courses") => match app.store.courses().await {
            Ok(courses) => json_response(StatusCode::OK, &courses),
            Err(e) => unavailable(e),
        },
        (Method::GET, p) if p.starts_with("/api/courses/") => {
            let raw = &p["/api/courses/".len()..];
            match raw.parse::<u32>() {
                Err(_) => error(StatusCode::NOT_FOUND, format!("no course with id `{raw}`")),
                Ok(cid) => match app.store.course(cid).await {
                    Ok(Some(course)) => json_response(StatusCode::OK, &course),
                    Ok(None) => error(StatusCode::NOT_FOUND, format!("no course with id `{raw}`")),
                    Err(e) => unavailable(e),
                },
            }
        }
        (Method::POST, p) if p.starts_with("/api/courses/") && p.ends_with("/enrol") => {
            let raw = &p["/api/courses/".len()..p.len() - "/enrol".len()];
            let Some(user) = session.map(|s| s.user) else {
                return signed_out();
            };
            enrol(app, &user, raw, now).await
        }
        (Method::GET, "/api/session") => match session {
            Some(s) => json_response(StatusCode::OK, &json!({ "user": s.user })),
            None => signed_out(),
        },
        (Method::POST, "/api/session") => sign_in(req, app, now).await,
        (Method::DELETE, "/api/session") => {
            let mut resp = json_response(StatusCode::OK, &json!({ "signed_out": true }));
            set_cookie(&mut resp, &Sessions::clear_cookie());
            resp
        }
        (Method::GET, "/api/me/enrolments") => {
            let Some(s) = session else {
                return signed_out();
            };
            match app.store.enrolments(&s.user).await {
                Ok(e) => json_response(StatusCode::OK, &json!({ "user": s.user, "enrolments": e })),
                Err(e) => unavailable(e),
            }
        }
        (Method::GET, "/api/me/attempts") => {
            let Some(s) = session else {
                return signed_out();
            };
            match app.store.attempts(&s.user).await {
                Ok(a) => json_response(StatusCode::OK, &json!({ "user": s.user, "attempts": a })),
                Err(e) => unavailable(e),
            }
        }
        (Method::POST, "/api/quiz/grade") => grade_route(req, app, session, now).await,
        (method, _) => error(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {path}"),
        ),
    }
}

async fn enrol(app: &App, user: &str, raw: &str, now: i64) -> Response<Full<Bytes>> {
    let Ok(cid) = raw.parse::<u32>() else {
        return error(StatusCode::NOT_FOUND, format!("no course with id `{raw}`"));
    };
    match app.store.course(cid).await {
        Ok(Some(_)) => {}
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no course with id `{raw}`")),
        Err(e) => return unavailable(e),
    }
    match app.store.enrol(user, cid, now).await {
        Ok(new) => json_response(
            if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &json!({ "user": user, "course_id": cid, "enrolled": true, "new": new }),
        ),
        Err(e) => unavailable(e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    name: String,
}

async fn sign_in<B>(req: Request<B>, app: &App, now: i64) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let name = match serde_json::from_slice::<SignIn>(&body) {
        Ok(s) => s.name,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected JSON {{\"name\": \"your name\"}}: {e}"),
            );
        }
    };
    let user = match valid_user(&name) {
        Ok(u) => u.to_owned(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let session = Session {
        user: user.clone(),
        issued_at: now,
    };
    let mut resp = json_response(StatusCode::OK, &json!({ "user": user }));
    set_cookie(&mut resp, &app.sessions.set_cookie(&session));
    resp
}

fn static_asset<B>(req: &Request<B>, path: &str) -> Response<Full<Bytes>> {
    let Some(asset) = assets::find(path) else {
        return error(StatusCode::NOT_FOUND, format!("no static file {path}"));
    };
    let inm = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let mut resp = if assets::not_modified(inm, &asset.etag) {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        respond(StatusCode::OK, asset.content_type, asset.body)
    };
    let h = resp.headers_mut();
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(assets::CACHE_CONTROL),
    );
    if let Ok(v) = HeaderValue::from_str(&asset.etag) {
        h.insert(ETAG, v);
    }
    resp
}

async fn read_body<B>(req: Request<B>) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes"),
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read body: {e}"),
        )),
    }
}

async fn grade_route<B>(
    req: Request<B>,
    app: &App,
    session: Option<Session>,
    now: i64,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let id = &app.id;
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let submission: GradeRequest = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected JSON {{\"answers\": [numbers], \"work\": 0..=1000, \"course\": id}}: {e}"
                ),
            );
        }
    };
    let course = submission.course;
    // The hashing is CPU-bound: keep it off the async worker so /health stays responsive.
    let graded = match &app.pacer {
        Some(pacer) => pacer.run(move || grade::grade(&submission)).await,
        None => tokio::task::spawn_blocking(move || grade::grade(&submission)).await,
    };
    let graded = match graded {
        Ok(graded) => graded,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("grading failed: {e}"),
            );
        }
    };
    match graded {
        Ok(g) => {
            // Signed in: the attempt is recorded (a failure to record does not fail grading).
            let mut recorded = false;
            if let Some(s) = &session {
                let attempt = Attempt {
                    course_id: course,
                    score: g.score,
                    total: g.total,
                    at: now,
                };
                match app.store.record_attempt(&s.user, attempt).await {
                    Ok(()) => recorded = true,
                    Err(e) => eprintln!("mylearning: could not record an attempt: {e}"),
                }
            }
            json_response(
                StatusCode::OK,
                &json!({
                    "score": g.score,
                    "total": g.total,
                    "checksum": g.checksum,
                    "instance": id.instance,
                    "az": id.az,
                    "recorded": recorded,
                }),
            )
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

fn signed_out() -> Response<Full<Bytes>> {
    error(
        StatusCode::UNAUTHORIZED,
        "not signed in: POST /api/session with {\"name\": \"your name\"} first".into(),
    )
}

/// The database is unreachable (a failover in progress, say): 503, which the load balancer
/// passes on and clients may retry.
fn unavailable(e: StoreError) -> Response<Full<Bytes>> {
    error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn set_cookie(resp: &mut Response<Full<Bytes>>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let body = json!({ "error": message }).to_string();
    respond(status, "application/json", body)
}

/// A header value for text from the environment; characters HTTP forbids become `?`.
fn header_value(s: &str) -> HeaderValue {
    let clean: String = s
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App {
            id: Identity {
                instance: "i-0abc".into(),
                az: "us-east-1a".into(),
            },
            store: Store::memory(),
            sessions: Sessions::new("test"),
            pacer: None,
        }
    }

    async fn call(
        method: Method,
        path: &str,
        body: &str,
    ) -> (StatusCode, String, Response<Full<Bytes>>) {
        call_on(&app(), method, path, body, "").await
    }

    async fn call_on(
        app: &App,
        method: Method,
        path: &str,
        body: &str,
        cookie: &str,
    ) -> (StatusCode, String, Response<Full<Bytes>>) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        if !cookie.is_empty() {
            req.headers_mut()
                .insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        let resp = handle(req, app, 1_000_000).await;
        let status = resp.status();
        let text = String::from_utf8(
            resp.body()
                .clone()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        (status, text, resp)
    }

    #[tokio::test]
    async fn routes_answer_and_name_the_instance() {
        let (status, body, resp) = call(Method::GET, "/health", "").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        assert_eq!(resp.headers()["x-updraft-instance"], "i-0abc");
        assert_eq!(resp.headers()["x-updraft-az"], "us-east-1a");

        let (status, body, _) = call(Method::GET, "/api/courses/4", "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("\"lessons\":10"), "{body}");
        let (status, body, resp) = call(Method::GET, "/api/courses/nope", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no course with id `nope`"), "{body}");
        assert_eq!(
            resp.headers()["x-updraft-az"],
            "us-east-1a",
            "errors carry the headers too"
        );

        let (status, _, _) = call(Method::DELETE, "/health", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn grading_validates_its_input() {
        let (status, body, _) = call(
            Method::POST,
            "/api/quiz/grade",
            r#"{"answers":[1,0,3],"work":2}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["score"].as_u64(), v["total"].as_u64()),
            (Some(3), Some(10))
        );
        assert_eq!(v["instance"], "i-0abc");

        for bad in [
            "not json",
            r#"{"answers":[1],"work":1001}"#,
            r#"{"answers":[1],"extra":1}"#,
        ] {
            let (status, body, _) = call(Method::POST, "/api/quiz/grade", bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.starts_with("{\"error\":"), "{body}");
        }
        let huge = format!("{{\"answers\":[{}1]}}", "1,".repeat(MAX_BODY));
        let (status, _, _) = call(Method::POST, "/api/quiz/grade", &huge).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn sign_in_enrol_and_record_attempts_across_instances_sharing_the_secret() {
        let a = app();
        // Another instance with the same secret and store (as two instances on one database).
        let (status, _, _) = call_on(&a, Method::POST, "/api/courses/2/enrol", "", "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body, resp) =
            call_on(&a, Method::POST, "/api/session", r#"{"name":"ada"}"#, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        let (status, body, _) = call_on(&a, Method::GET, "/api/session", "", &cookie).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"user":"ada"}"#)
        );
        let (status, _, _) = call_on(&a, Method::POST, "/api/courses/2/enrol", "", &cookie).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _, _) = call_on(&a, Method::POST, "/api/courses/2/enrol", "", &cookie).await;
        assert_eq!(status, StatusCode::OK, "enrolling twice is not an error");
        let (status, _, _) = call_on(&a, Method::POST, "/api/courses/99/enrol", "", &cookie).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, body, _) = call_on(&a, Method::GET, "/api/me/enrolments", "", &cookie).await;
        assert!(body.contains(r#""course_id":2"#), "{body}");
        let (_, body, _) = call_on(
            &a,
            Method::POST,
            "/api/quiz/grade",
            r#"{"answers":[1,0],"work":0,"course":2}"#,
            &cookie,
        )
        .await;
        assert!(body.contains(r#""recorded":true"#), "{body}");
        let (_, body, _) = call_on(&a, Method::GET, "/api/me/attempts", "", &cookie).await;
        assert!(body.contains(r#""score":2"#), "{body}");
        // A forged cookie is no session.
        let (status, _, _) =
            call_on(&a, Method::GET, "/api/session", "", "ml_session=e30.AAAA").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body, _) =
            call_on(&a, Method::POST, "/api/session", r#"{"name":"a;b"}"#, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (_, _, resp) = call_on(&a, Method::DELETE, "/api/session", "", &cookie).await;
        assert!(
            resp.headers()[SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[tokio::test]
    async fn static_assets_are_cacheable_and_conditional() {
        let (status, body, resp) = call(Method::GET, "/static/app.css", "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("#me"));
        assert_eq!(resp.headers()[CACHE_CONTROL], "public, max-age=3600");
        let etag = resp.headers()[ETAG].to_str().unwrap().to_owned();
        let mut req = Request::builder()
            .uri("/static/app.css")
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.headers_mut()
            .insert(IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        let resp = handle(req, &app(), 0).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        let (status, _, _) = call(Method::GET, "/static/../secret", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn header_values_never_fail() {
        assert_eq!(header_value("i-1"), "i-1");
        assert_eq!(header_value("bad\nvalue é"), "bad?value ?");
    }
}
