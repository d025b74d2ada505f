//! Static assets, compiled into the binary: served with a long cache lifetime, an ETag derived
//! from their content, and `304 Not Modified` when the client already has them — what an edge
//! cache in front of the load balancer needs.

use std::sync::LazyLock;

/// One static file.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    pub etag: String,
}

pub static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        (
            "/static/app.css",
            "text/css; charset=utf-8",
            include_str!("../static/app.css"),
        ),
        (
            "/static/app.js",
            "text/javascript; charset=utf-8",
            include_str!("../static/app.js"),
        ),
    ]
    .into_iter()
    .map(|(path, content_type, body)| Asset {
        path,
        content_type,
        body,
        etag: etag(body),
    })
    .collect()
});

/// `Cache-Control` for assets.
pub const CACHE_CONTROL: &str = "public, max-age=3600";

pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// A strong ETag from the content (the same on every instance of the same build).
fn etag(body: &str) -> String {
    // FNV-1a: deterministic across processes and builds (std's hashers are seeded or
    // deprecated); an ETag needs no cryptographic strength.
    let h = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{h:016x}\"")
}

/// Whether an `If-None-Match` header matches `etag`.
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_have_stable_etags_and_conditional_gets_match() {
        let css = find("/static/app.css").unwrap();
        assert_eq!(css.etag, etag(css.body));
        assert!(css.etag.starts_with('"') && css.etag.len() == 18);
        assert!(not_modified(Some(&css.etag), &css.etag));
        assert!(not_modified(
            Some(&format!("\"x\", {}", css.etag)),
            &css.etag
        ));
        assert!(!not_modified(Some("\"other\""), &css.etag));
        assert!(!not_modified(None, &css.etag));
        assert!(find("/static/nope").is_none());
        assert_ne!(find("/static/app.js").unwrap().etag, css.etag);
    }
}
