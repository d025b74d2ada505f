//! What to send, and where: the URL, method, headers and body of every request, checked once.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;

use crate::Error;

/// The request every connection sends, prepared once.
#[derive(Debug, Clone)]
pub struct Target {
    /// As the user wrote it.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub method: Method,
    /// The whole HTTP/1.1 request (origin-form target, `host`, headers, body), serialised once.
    h1_bytes: Bytes,
    /// Absolute form for HTTP/2 (`:scheme` and `:authority` come from it).
    absolute: Uri,
    /// Headers for HTTP/2 (without `host`).
    h2_headers: HeaderMap,
    pub body: Bytes,
}

impl Target {
    /// Checks the URL (`http://host[:port]/path`) and headers (`Name: value`).
    pub fn new(url: &str, method: &str, headers: &[String], body: Bytes) -> Result<Target, Error> {
        let bad = |why: String| Error::BadUrl {
            url: url.to_owned(),
            why,
        };
        let uri: Uri = url.trim().parse().map_err(|e| {
            bad(format!(
                "{e}; write an absolute URL such as http://127.0.0.1:8080/"
            ))
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported yet; load the listener over http:// (h2c with \
                     --http2)"
                        .into(),
                ));
            }
            Some(other) => return Err(bad(format!("unsupported scheme `{other}`; use http://"))),
            None => {
                return Err(bad(
                    "no scheme; write an absolute URL such as http://127.0.0.1:8080/".into(),
                ));
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host; write e.g. http://127.0.0.1:8080/".into()))?
            .clone();
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported; send an \
                            `Authorization` header with -H instead"
                .into()));
        }
        let host = authority.host().trim_matches(['[', ']']).to_owned();
        let port = authority.port_u16().unwrap_or(80);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        let origin_form: Uri = path
            .parse()
            .map_err(|e| bad(format!("bad path `{path}`: {e}")))?;
        let absolute: Uri = format!("http://{authority}{path}")
            .parse()
            .map_err(|e| bad(format!("{e}")))?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| Error::BadRequest {
            why: format!("`{method}` is not an HTTP method; use GET, POST, PUT, …"),
        })?;
        let mut h2_headers = HeaderMap::new();
        for line in headers {
            let (name, value) = line.split_once(':').ok_or_else(|| Error::BadRequest {
                why: format!("header `{line}` has no `:`; write -H 'Name: value'"),
            })?;
            let name =
                HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| Error::BadRequest {
                    why: format!("`{}` is not a valid header name", name.trim()),
                })?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| Error::BadRequest {
                why: format!("the value of header `{name}` is not valid in HTTP"),
            })?;
            h2_headers.append(name, value);
        }
        let mut h1_headers = h2_headers.clone();
        if let Some(host) = h2_headers.remove(HOST) {
            h1_headers.insert(HOST, host);
        } else {
            let value =
                HeaderValue::from_str(authority.as_str()).map_err(|e| bad(e.to_string()))?;
            h1_headers.insert(HOST, value);
        }
        let h1_bytes = crate::h1::serialize(
            &method,
            origin_form.path_and_query().map_or("/", |p| p.as_str()),
            &h1_headers,
            &body,
        );
        Ok(Target {
            url: url.trim().to_owned(),
            host,
            port,
            method,
            h1_bytes,
            absolute,
            h2_headers,
            body,
        })
    }

    /// The HTTP/1.1 request's bytes (a reference-counted handle).
    pub(crate) fn h1_bytes(&self) -> Bytes {
        self.h1_bytes.clone()
    }

    /// The HTTP/2 request to send (cheap: the parts are reference-counted or small copies).
    pub(crate) fn h2_request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.absolute.clone();
        *req.version_mut() = http::Version::HTTP_2;
        *req.headers_mut() = self.h2_headers.clone();
        req
    }

    /// Resolves the host and opens (then closes) one connection, so that a wrong URL fails in
    /// a second with one clear message instead of a run full of errors.
    pub async fn probe(&self, timeout: Duration) -> Result<SocketAddr, Error> {
        let unreachable = |why: String| Error::Unreachable {
            url: self.url.clone(),
            why,
        };
        let addrs: Vec<SocketAddr> = tokio::time::timeout(
            timeout,
            tokio::net::lookup_host((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| unreachable(format!("resolving `{}` timed out", self.host)))?
        .map_err(|e| unreachable(format!("cannot resolve `{}`: {e}", self.host)))?
        .collect();
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => return Ok(addr),
                Ok(Err(e)) => last = Some(format!("cannot connect to {addr}: {e}")),
                Err(_) => {
                    last = Some(format!(
                        "connecting to {addr} timed out after {} s",
                        timeout.as_secs_f64()
                    ))
                }
            }
        }
        Err(unreachable(last.unwrap_or_else(|| {
            format!("`{}` resolves to no address", self.host)
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<Target, Error> {
        Target::new(url, "GET", &[], Bytes::new())
    }

    #[test]
    fn origin_and_absolute_forms() {
        let t = Target::new(
            "http://127.0.0.1:8080/api/quiz/grade?x=1",
            "POST",
            &["content-type: application/json".into(), "X-A:b".into()],
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8080));
        let h1 = String::from_utf8(t.h1_bytes().to_vec()).unwrap();
        assert_eq!(
            h1,
            "POST /api/quiz/grade?x=1 HTTP/1.1\r\ncontent-type: application/json\r\nx-a: b\r\n\
             host: 127.0.0.1:8080\r\ncontent-length: 2\r\n\r\n{}"
        );
        let h2 = t.h2_request();
        assert_eq!(h2.uri(), "http://127.0.0.1:8080/api/quiz/grade?x=1");
        assert!(h2.headers().get("host").is_none());
        assert!(
            target("http://localhost")
                .unwrap()
                .h1_bytes()
                .starts_with(b"GET / HTTP/1.1\r\n")
        );
        assert_eq!(target("http://[::1]:9/").unwrap().host, "::1");
    }

    #[test]
    fn bad_urls_and_headers_say_what_to_write() {
        let e = |u: &str| target(u).unwrap_err().to_string();
        assert!(
            e("127.0.0.1:8080").contains("http://127.0.0.1:8080/"),
            "{}",
            e("127.0.0.1:8080")
        );
        assert!(e("https://x/").contains("https is not supported"));
        assert!(e("ftp://x/").contains("unsupported scheme `ftp`"));
        assert!(e("http://u:p@x/").contains("Authorization"));
        assert!(e("not a url").contains("not a url"));
        let h = Target::new("http://x/", "GET", &["nocolon".into()], Bytes::new());
        assert!(h.unwrap_err().to_string().contains("-H 'Name: value'"));
        let m = Target::new("http://x/", "GE T", &[], Bytes::new());
        assert!(m.unwrap_err().to_string().contains("not an HTTP method"));
    }

    #[tokio::test]
    async fn probing_a_closed_port_fails_fast_and_clearly() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = target(&format!("http://127.0.0.1:{port}/")).unwrap();
        let e = t
            .probe(Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("127.0.0.1:{port}")) && e.contains("refused"),
            "{e}"
        );
    }
}
