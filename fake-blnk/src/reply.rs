//! What the fake answers: a status and a JSON body in Blnk's shapes.
//!
//! Blnk writes its errors in three shapes (all seen on a real Blnk, `api/errors.go`):
//! - most: `{"error": m, "error_detail": {"code": c, "message": m}}`;
//! - "not found" upgraded by `respondError`: the same with `"details": {}` in `error_detail`;
//! - validation of a transaction (`withLegacyKey("errors")`): `{"error_detail": {..}, "errors": m}`,
//!   with no `error` key.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    /// gin's own answers (`404 page not found`), as `text/plain`.
    Text(&'static str),
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(body),
        }
    }

    pub fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    pub fn created(body: Value) -> Reply {
        Reply::json(201, body)
    }

    /// `{"error": m, "error_detail": {"code": c, "message": m}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": message, "error_detail": {"code": code, "message": message}}),
        )
    }

    /// The "not found" shape: `error_detail` carries `"details": {}`.
    pub fn not_found(message: &str) -> Reply {
        Reply::json(
            404,
            json!({"error": message, "error_detail": {"code": "TXN_NOT_FOUND", "message": message, "details": {}}}),
        )
    }

    /// The legacy validation shape: `errors` instead of `error`.
    pub fn legacy(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"errors": message, "error_detail": {"code": code, "message": message}}),
        )
    }

    /// What a bind failure of `POST /transactions` answers, whatever the cause.
    pub fn invalid_input() -> Reply {
        Reply::error(400, "GEN_MALFORMED_REQUEST", "Invalid input")
    }

    /// gin's answer to a route it does not have.
    pub fn no_route() -> Reply {
        Reply {
            status: 404,
            body: Body::Text("404 page not found"),
        }
    }

    /// The JSON body, for the fake's own callers.
    pub fn value(&self) -> Value {
        match &self.body {
            Body::Json(v) => v.clone(),
            Body::Text(t) => Value::String((*t).to_string()),
        }
    }
}
