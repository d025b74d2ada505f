//! MyLearning's HTTP routes. Every response, errors included, names the instance and AZ that
//! served it (`x-updraft-instance`, `x-updraft-az`), so load-balancing is visible from outside.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::catalogue;
use crate::grade::{self, GradeRequest};

/// Largest request body accepted (a quiz submission is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// Who is serving: from `UPDRAFT_INSTANCE_ID` and `UPDRAFT_AZ`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub instance: String,
    pub az: String,
}

/// Answers one request.
pub async fn handle<B>(req: Request<B>, id: &Identity) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut resp = route(req, id).await;
    let headers = resp.headers_mut();
    headers.insert("x-updraft-instance", header_value(&id.instance));
    headers.insert("x-updraft-az", header_value(&id.az));
    resp
}

async fn route<B>(req: Request<B>, id: &Identity) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/health") => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
        (Method::GET, "/") => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            catalogue::page(&id.instance, &id.az),
        ),
        (Method::GET, "/api/courses") => json_response(StatusCode::OK, &catalogue::COURSES),
        (Method::GET, p) if p.starts_with("/api/courses/") => {
            let raw = &p["/api/courses/".len()..];
            match raw.parse().ok().and_then(catalogue::find) {
                Some(course) => json_response(StatusCode::OK, course),
                None => error(StatusCode::NOT_FOUND, format!("no course with id `{raw}`")),
            }
        }
        (Method::POST, "/api/quiz/grade") => grade_route(req, id).await,
        (method, _) => error(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {path}"),
        ),
    }
}

async fn grade_route<B>(req: Request<B>, id: &Identity) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {MAX_BODY} bytes"),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
    };
    let submission: GradeRequest = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected JSON {{\"answers\": [numbers], \"work\": 0..=1000}}: {e}"),
            );
        }
    };
    // The hashing is CPU-bound: keep it off the async worker so /health stays responsive.
    let graded = match tokio::task::spawn_blocking(move || grade::grade(&submission)).await {
        Ok(graded) => graded,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("grading failed: {e}"),
            );
        }
    };
    match graded {
        Ok(g) => json_response(
            StatusCode::OK,
            &json!({
                "score": g.score,
                "total": g.total,
                "checksum": g.checksum,
                "instance": id.instance,
                "az": id.az,
            }),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
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

    fn id() -> Identity {
        Identity {
            instance: "i-0abc".into(),
            az: "us-east-1a".into(),
        }
    }

    async fn call(
        method: Method,
        path: &str,
        body: &str,
    ) -> (StatusCode, String, Response<Full<Bytes>>) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let resp = handle(req, &id()).await;
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

    #[test]
    fn header_values_never_fail() {
        assert_eq!(header_value("i-1"), "i-1");
        assert_eq!(header_value("bad\nvalue é"), "bad?value ?");
    }
}
