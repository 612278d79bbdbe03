//! The playground: a static web page, compiled into the binary, that drives the API from a
//! browser (no CDN, no build step, works offline). It is public like `/health`: it holds
//! no secret, and when the server has an API key the page asks for it and sends it with
//! its own API requests.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../assets/playground/index.html");
const APP_JS: &str = include_str!("../assets/playground/app.js");
const STYLE: &str = include_str!("../assets/playground/style.css");

/// The page may only load its own script and style and talk to its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// The page at `/` and `/playground`, with its script and style.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/playground", get(index))
        .route("/playground/app.js", get(app_js))
        .route("/playground/style.css", get(style))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn page_and_assets_are_served_with_their_types() {
        for (path, ty, needle) in [
            ("/", "text/html", "playground/app.js"),
            ("/playground", "text/html", "id=\"map\""),
            ("/playground/app.js", "text/javascript", "/interpolate"),
            ("/playground/style.css", "text/css", "body"),
        ] {
            let r = routes::<()>()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let t = r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_string();
            assert!(t.starts_with(ty), "{path}: {t}");
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
            let body = r.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains(needle), "{path} lacks {needle}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_other_origins() {
        for text in [INDEX, APP_JS, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
    }
}
