//! JSON responses. Every error body is `{"error": "..."}`.

use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use warp::Reply;
use warp::reply::Response;

pub fn json(status: StatusCode, body: &Value) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json(status, &json!({ "error": message.to_string() }))
}

pub fn with_header(mut response: Response, name: http::HeaderName, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

pub fn method_not_allowed(allow: &str) -> Response {
    with_header(
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed (allowed: {allow})"),
        ),
        ALLOW,
        allow,
    )
}

pub fn unauthorized(message: impl std::fmt::Display, challenge: Option<&str>) -> Response {
    let response = error(StatusCode::UNAUTHORIZED, message);
    match challenge {
        Some(challenge) => with_header(response, WWW_AUTHENTICATE, challenge),
        None => response,
    }
}

/// 429 or 503 with `Retry-After` in whole seconds (at least 1).
pub fn retry_later(status: StatusCode, message: &str, after: Duration) -> Response {
    let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    with_header(
        error(status, message),
        RETRY_AFTER,
        &seconds.max(1).to_string(),
    )
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = warp::reply::with_status(body, status).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
