//! The optional bearer token of the write routes. The comparison takes the same time
//! whatever the first differing byte, so response times do not reveal a prefix of the
//! token; the token is never logged, and a refusal never echoes what was sent.

use axum::http::{header, HeaderMap, StatusCode};

use super::error::ApiError;
use crate::config::Secret;

/// `Ok` when no token is configured or the request carries `Authorization: Bearer <token>`.
pub fn authorize(token: &Secret, headers: &HeaderMap) -> Result<(), ApiError> {
    if token.is_empty() {
        return Ok(());
    }
    let refuse = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(refuse("this route needs Authorization: Bearer <token>"));
    };
    let presented = value
        .as_bytes()
        .strip_prefix(b"Bearer ")
        .or_else(|| value.as_bytes().strip_prefix(b"bearer "))
        .ok_or_else(|| refuse("expected Authorization: Bearer <token>"))?;
    if constant_time_eq(presented, token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(refuse("wrong token"))
    }
}

/// Equality of two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn equal_strings_only() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret!"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn a_token_is_required_only_when_configured() {
        let none = Secret::default();
        assert!(authorize(&none, &HeaderMap::new()).is_ok());
        let token = Secret::new("t0ken");
        assert!(authorize(&token, &bearer("Bearer t0ken")).is_ok());
        for refused in [
            bearer("Bearer t0ke"),
            bearer("Basic t0ken"),
            HeaderMap::new(),
        ] {
            let e = authorize(&token, &refused).unwrap_err();
            assert_eq!(e.status, StatusCode::UNAUTHORIZED);
            assert!(!e.message.contains("t0ken"), "{}", e.message);
        }
    }
}
