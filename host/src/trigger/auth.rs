//! Authentication at the edge: the access token of a request is verified once, before any
//! component runs, and the component gets the verified company in `jm-company-id`.
//!
//! The token (cookie `ACCESS_TOKEN` or `Authorization: Bearer`) is a compact JWE with `dir`
//! and `A256GCM` under the key in a secret variable. It must be an `ACCESS` token, unexpired,
//! and still recorded in Redis (`jm:token:<jti>`), so a logout revokes it at once. Headers a
//! client sends whose names start with `jm-` are removed first.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Deserialize;

use super::routes::{RoutePattern, Router};

/// The header the component reads the verified company id from.
pub const COMPANY_HEADER: &str = "jm-company-id";

/// The edge policy of an application.
pub struct EdgeAuth {
    cipher: Aes256Gcm,
    public: Router<Option<Method>>,
    redis: redis::aio::ConnectionManager,
}

/// Why a request was refused: the status, the API error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The API error code.
    pub code: &'static str,
    /// A message for the client.
    pub message: &'static str,
}

const MISSING: Refusal = Refusal {
    status: StatusCode::UNAUTHORIZED,
    code: "UNAUTHORIZED",
    message: "a valid access token is required",
};
const INVALID: Refusal = Refusal {
    status: StatusCode::UNAUTHORIZED,
    code: "UNAUTHORIZED",
    message: "the access token is not valid",
};
const EXPIRED: Refusal = Refusal {
    status: StatusCode::UNAUTHORIZED,
    code: "TOKEN_EXPIRED",
    message: "the access token has expired",
};
const UNAVAILABLE: Refusal = Refusal {
    status: StatusCode::SERVICE_UNAVAILABLE,
    code: "SERVICE_UNAVAILABLE",
    message: "tokens cannot be checked right now",
};

/// The claims of a token.
#[derive(Debug, Deserialize)]
pub struct Claims {
    /// The company id.
    pub sub: String,
    /// The role.
    pub role: String,
    /// `ACCESS` or `REFRESH`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The token id.
    pub jti: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

impl EdgeAuth {
    /// Builds the policy: `key` is the base64url key, `public` the `"METHOD /route"` entries.
    pub async fn new(key: &str, public: &[String], redis_url: &str) -> Result<Self> {
        let key = URL_SAFE_NO_PAD
            .decode(key.trim_end_matches('='))
            .context("the token key is not base64url")?;
        if key.len() != 32 {
            bail!("the token key must be 32 bytes, found {}", key.len());
        }
        let cipher = Aes256Gcm::new_from_slice(&key).context("bad token key")?;
        let mut routes = Vec::new();
        for entry in public {
            let (method, route) = match entry.split_once(' ') {
                Some((method, route)) => (Some(parse_method(method)?), route.trim()),
                None => (None, entry.as_str()),
            };
            let pattern = RoutePattern::parse(route).map_err(anyhow::Error::msg)?;
            routes.push((pattern, method));
        }
        let client = redis::Client::open(redis_url).context("bad Redis url for token checks")?;
        let redis = crate::redis_client::connect(client)
            .await
            .context("failed to reach Redis for token checks")?;
        Ok(Self {
            cipher,
            public: Router::new(routes),
            redis,
        })
    }

    fn is_public(&self, method: &Method, path: &str) -> bool {
        // Several public entries may share a path with different methods.
        self.public
            .routes_matching(path)
            .any(|m| m.as_ref().is_none_or(|m| m == method))
    }

    /// Checks a request: strips client `jm-*` headers, verifies its token, and sets the
    /// identity headers; refuses it when a protected route has no valid token.
    pub async fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), Refusal> {
        let spoofed: Vec<_> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("jm-"))
            .cloned()
            .collect();
        for name in spoofed {
            headers.remove(name);
        }
        let public = self.is_public(method, path);
        let verdict = match token(headers) {
            Some(token) => self.verify(&token).await,
            None => Err(MISSING),
        };
        match verdict {
            Ok(claims) => {
                set(headers, COMPANY_HEADER, &claims.sub);
                set(headers, "jm-role", &claims.role);
                set(headers, "jm-token-id", &claims.jti);
                Ok(())
            }
            Err(_) if public => Ok(()),
            Err(refusal) => Err(refusal),
        }
    }

    async fn verify(&self, token: &str) -> Result<Claims, Refusal> {
        let claims = decrypt(&self.cipher, token).ok_or(INVALID)?;
        if claims.kind != "ACCESS" {
            return Err(INVALID);
        }
        if claims.exp <= chrono::Utc::now().timestamp() {
            return Err(EXPIRED);
        }
        let mut redis = self.redis.clone();
        let active: bool = redis::cmd("EXISTS")
            .arg(format!("jm:token:{}", claims.jti))
            .query_async(&mut redis)
            .await
            .map_err(|error| {
                tracing::warn!(%error, blame = "host", "token check failed");
                UNAVAILABLE
            })?;
        if active { Ok(claims) } else { Err(INVALID) }
    }
}

fn parse_method(text: &str) -> Result<Method> {
    Method::from_bytes(text.as_bytes()).with_context(|| format!("`{text}` is not an HTTP method"))
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// The token of a request: `Authorization: Bearer`, else the `ACCESS_TOKEN` cookie.
fn token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        return Some(token.trim().to_string());
    }
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("ACCESS_TOKEN=").map(str::to_string))
}

/// Decrypts a compact `dir` + `A256GCM` JWE and parses its claims.
pub fn decrypt(cipher: &Aes256Gcm, token: &str) -> Option<Claims> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, key, iv, ciphertext, tag] = parts.as_slice() else {
        return None;
    };
    let header_json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header_json["alg"] != "dir" || header_json["enc"] != "A256GCM" || !key.is_empty() {
        return None;
    }
    let iv = URL_SAFE_NO_PAD.decode(iv).ok()?;
    if iv.len() != 12 {
        return None;
    }
    let mut sealed = URL_SAFE_NO_PAD.decode(ciphertext).ok()?;
    sealed.extend(URL_SAFE_NO_PAD.decode(tag).ok()?);
    let payload = Payload {
        msg: &sealed,
        aad: header.as_bytes(),
    };
    let plain = cipher.decrypt(Nonce::from_slice(&iv), payload).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// The API's error body for a refusal at `path`.
pub fn error_body(refusal: &Refusal, path: &str) -> String {
    serde_json::json!({
        "error": { "code": refusal.code, "message": refusal.message },
        "path": path,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadCore as _;

    fn seal(cipher: &Aes256Gcm, header: &str, claims: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(header);
        let iv = Aes256Gcm::generate_nonce(&mut aes_gcm::aead::OsRng);
        let sealed = cipher
            .encrypt(
                &iv,
                Payload {
                    msg: claims.as_bytes(),
                    aad: header.as_bytes(),
                },
            )
            .unwrap_or_default();
        let (body, tag) = sealed.split_at(sealed.len() - 16);
        format!(
            "{header}..{}.{}.{}",
            URL_SAFE_NO_PAD.encode(iv),
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    #[test]
    fn a_sealed_token_opens_and_a_tampered_one_does_not() {
        let cipher = Aes256Gcm::new_from_slice(&[7; 32]).unwrap_or_else(|_| unreachable!());
        let claims = r#"{"sub":"c1","role":"COMPANY","type":"ACCESS","jti":"j1","iat":1,"exp":2}"#;
        let token = seal(&cipher, r#"{"alg":"dir","enc":"A256GCM"}"#, claims);
        assert_eq!(
            decrypt(&cipher, &token).map(|c| c.sub),
            Some("c1".to_string())
        );
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'A');
        assert!(decrypt(&cipher, &tampered).is_none());
        let other = Aes256Gcm::new_from_slice(&[8; 32]).unwrap_or_else(|_| unreachable!());
        assert!(decrypt(&other, &token).is_none());
        let wrong_alg = seal(&cipher, r#"{"alg":"none","enc":"A256GCM"}"#, claims);
        assert!(decrypt(&cipher, &wrong_alg).is_none());
    }
}
