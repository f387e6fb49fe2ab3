//! Reading a request body as the API's JSON: the content type checked (415), the size bounded
//! (413, by the router's limit), malformed JSON told apart from well-formed JSON of the wrong
//! shape (400 vs 422), and the offending field named when serde knows it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest request body: a post of 4,000 four-byte characters and ten attachments fits.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `application/json`, with parameters (`; charset=utf-8`) or a `+json` suffix.
pub fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let unsupported = |what: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{what}: send Content-Type: application/json"),
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("no Content-Type"));
    };
    let value = value
        .to_str()
        .map_err(|_| unsupported("unreadable Content-Type"))?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(unsupported(&format!("Content-Type {essence:?}")))
    }
}

/// The body as bytes, or why it could not be read (413 when over [`MAX_BODY_BYTES`]).
pub fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request(format!("cannot read the body: {rejection}"))
        }
    })
}

/// Parses a JSON body: 400 when it is not JSON, 422 when it is JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the body is empty: expected a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                let error = ApiError::unprocessable(e.to_string());
                match field_of(&e.to_string()) {
                    Some(f) => error.field(f),
                    None => error,
                }
            }
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("malformed JSON: {e}"))
            }
        }
    })
}

/// The field serde names in "missing field `content`" or "unknown field `x`".
fn field_of(message: &str) -> Option<String> {
    if !(message.starts_with("missing field") || message.starts_with("unknown field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Post {
        content: String,
        size: u32,
    }

    fn with_type(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn json_content_types_pass_and_others_are_415() {
        assert!(check_json_content_type(&with_type("application/json")).is_ok());
        assert!(check_json_content_type(&with_type("Application/JSON; charset=utf-8")).is_ok());
        assert!(check_json_content_type(&with_type("application/merge-patch+json")).is_ok());
        for bad in ["text/plain", "application/x-www-form-urlencoded", ""] {
            let e = check_json_content_type(&with_type(bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
        let e = check_json_content_type(&HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn malformed_json_is_400_and_the_wrong_shape_is_422_with_the_field() {
        let e = parse_json::<Post>(b"{\"content\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<Post>(b"   ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<Post>(br#"{"size": 1}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("content"));
        let e = parse_json::<Post>(br#"{"content": "x", "size": "big"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field, None, "serde names the value, not the field");
        let e = parse_json::<Post>(b"[1, 2]").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse_json::<Post>(br#"{"content": "x", "size": 3}"#).is_ok());
    }
}
