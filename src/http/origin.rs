//! Cross-site writes refused. A page on any site can make a visitor's browser send a "simple
//! request" (a `POST` with a form body, no preflight) to any address the visitor's machine
//! reaches, a node bound to `127.0.0.1` included, and register or deregister instances there.
//! Browsers say where such a request comes from; a request that changes state (any method but
//! `GET`, `HEAD` and `OPTIONS`) is refused with 403 when
//!
//! - its `Origin` is not the server the request is addressed to (the `Host` header: same
//!   host and port, the scheme left aside), or is `null` (a sandboxed page, a file); or
//! - its `Sec-Fetch-Site` is `cross-site`.
//!
//! Nacos clients send neither header, and the web console's own requests carry its origin,
//! so neither is affected. Nacos checks neither.
//!
//! Reads stay open to any origin here (no browser lets a foreign page read the answer without
//! CORS headers, which nacre never sends); a page that rebinds its own name to the node's
//! address is a different attack, answered by checking `Host`.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware: see the module documentation.
pub(crate) async fn refuse_cross_site(request: Request, next: Next) -> Response {
    match cross_site(&request) {
        Some(why) => (StatusCode::FORBIDDEN, why).into_response(),
        None => next.run(request).await,
    }
}

/// Why `request` is a refused cross-site write, if it is one.
fn cross_site(request: &Request) -> Option<String> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|s| s.trim().eq_ignore_ascii_case("cross-site")) {
        return Some(
            "a cross-site request may not change anything here (Sec-Fetch-Site: cross-site)"
                .to_owned(),
        );
    }
    let origin = text(header::ORIGIN.as_str())?;
    let host = text(header::HOST.as_str()).unwrap_or("");
    let authority = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest.trim_end_matches('/'));
    if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
        return None;
    }
    Some(format!(
        "a cross-site request may not change anything here: its Origin `{}` is not this server (Host `{}`)",
        crate::model::excerpt(origin),
        crate::model::excerpt(host)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = axum::http::Request::builder()
            .method(method)
            .uri("/nacos/v1/ns/instance");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn only_writes_from_another_origin_are_refused() {
        let host = ("host", "127.0.0.1:8848");
        for (method, headers, refused) in [
            ("POST", vec![host], false),
            (
                "POST",
                vec![host, ("origin", "http://127.0.0.1:8848")],
                false,
            ),
            (
                "DELETE",
                vec![host, ("origin", "https://127.0.0.1:8848/")],
                false,
            ),
            ("POST", vec![host, ("origin", "http://evil.example")], true),
            ("PUT", vec![host, ("origin", "http://127.0.0.1:9999")], true),
            ("POST", vec![host, ("origin", "null")], true),
            ("POST", vec![("origin", "http://127.0.0.1:8848")], true),
            ("PATCH", vec![host, ("sec-fetch-site", "cross-site")], true),
            ("POST", vec![host, ("sec-fetch-site", "same-origin")], false),
            ("GET", vec![host, ("origin", "http://evil.example")], false),
            ("GET", vec![host, ("sec-fetch-site", "cross-site")], false),
        ] {
            let got = cross_site(&request(method, &headers)).is_some();
            assert_eq!(got, refused, "{method} {headers:?}");
        }
    }
}
