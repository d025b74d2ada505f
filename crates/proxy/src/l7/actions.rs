//! The actions the load balancer answers itself: `fixed-response` and `redirect` (with ALB's
//! `#{protocol}`, `#{host}`, `#{port}`, `#{path}` and `#{query}` placeholders).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use model::{Redirect, RedirectStatus};

use super::ProxyBody;
use crate::error;
use crate::routing::FixedResponse;
use crate::rules::RequestFacts;

pub(crate) fn fixed_response(f: &FixedResponse) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(f.body.clone()));
    *resp.status_mut() = f.status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, f.content_type.clone());
    resp
}

pub(crate) fn redirect(
    r: &Redirect,
    facts: &RequestFacts<'_>,
    scheme: &str,
    listener_port: u16,
) -> Response<ProxyBody> {
    let location = location(r, facts, scheme, listener_port);
    let Ok(value) = HeaderValue::from_str(&location) else {
        // Only reachable through bytes a client sent that a URL cannot carry.
        return error::bad_request();
    };
    let status = match r.status_code {
        RedirectStatus::Http301 => StatusCode::MOVED_PERMANENTLY,
        RedirectStatus::Http302 => StatusCode::FOUND,
    };
    let mut resp = Response::new(ProxyBody::full(Bytes::new()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::LOCATION, value);
    resp
}

/// The redirect URL. Ports that are the scheme's default are left out, and an empty query
/// leaves out the `?`.
pub(crate) fn location(
    r: &Redirect,
    facts: &RequestFacts<'_>,
    scheme: &str,
    listener_port: u16,
) -> String {
    let host = facts.host.map_or("", strip_port);
    let protocol = scheme.to_ascii_uppercase();
    let port = listener_port.to_string();
    let path = facts.path.strip_prefix('/').unwrap_or(facts.path);
    let query = facts.query.unwrap_or("");
    let fill = |template: &str| -> String {
        // One pass, so that a placeholder inside a substituted value is never expanded again.
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(i) = rest.find("#{") {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let (value, len) = [
                ("#{protocol}", protocol.as_str()),
                ("#{host}", host),
                ("#{port}", port.as_str()),
                ("#{path}", path),
                ("#{query}", query),
            ]
            .iter()
            .find(|(ph, _)| tail.starts_with(ph))
            .map_or(("#{", 2), |(ph, v)| (*v, ph.len()));
            out.push_str(value);
            rest = &tail[len..];
        }
        out.push_str(rest);
        out
    };
    let scheme = fill(&r.protocol).to_ascii_lowercase();
    let host = fill(&r.host);
    let port = fill(&r.port);
    let mut path = fill(&r.path);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let query = fill(&r.query);
    let default_port = matches!(
        (scheme.as_str(), port.as_str()),
        ("http", "80") | ("https", "443")
    );
    let mut url = format!("{scheme}://{host}");
    if !default_port && !port.is_empty() {
        url.push(':');
        url.push_str(&port);
    }
    url.push_str(&path);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |e| &host[..=e]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn facts<'a>(
        headers: &'a HeaderMap,
        path: &'a str,
        query: Option<&'a str>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            method: "GET",
            host: Some("www.example.com:8080"),
            path,
            query,
            headers: headers.into(),
            source: "127.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn the_default_redirect_keeps_everything() {
        let h = HeaderMap::new();
        let f = facts(&h, "/a/b", Some("x=1"));
        assert_eq!(
            location(&Redirect::default(), &f, "http", 8080),
            "http://www.example.com:8080/a/b?x=1"
        );
    }

    #[test]
    fn http_to_https_drops_the_default_port_and_templating_works() {
        let h = HeaderMap::new();
        let f = facts(&h, "/a", None);
        let r = Redirect {
            protocol: "HTTPS".into(),
            port: "443".into(),
            ..Redirect::default()
        };
        assert_eq!(location(&r, &f, "http", 80), "https://www.example.com/a");
        let r = Redirect {
            host: "new.#{host}".into(),
            path: "/v2/#{path}/#{port}".into(),
            query: "from=#{protocol}&#{query}".into(),
            port: "#{port}".into(),
            ..Redirect::default()
        };
        let f = facts(&h, "/x", Some("q=#{host}"));
        assert_eq!(
            location(&r, &f, "http", 80),
            "http://new.www.example.com/v2/x/80?from=HTTP&q=#{host}"
        );
    }

    #[tokio::test]
    async fn responses_carry_status_and_location() {
        let h = HeaderMap::new();
        let f = facts(&h, "/", None);
        let r = Redirect {
            status_code: RedirectStatus::Http301,
            ..Redirect::default()
        };
        let resp = redirect(&r, &f, "http", 8080);
        assert_eq!(resp.status(), 301);
        assert_eq!(
            resp.headers()[header::LOCATION],
            "http://www.example.com:8080/"
        );
    }
}
