//! Tokens as compact JWE with `alg` `dir` and `enc` `A256GCM`: the claims are sealed with the
//! 32-byte key of the secret variable `token_key`, the encoded protected header being the
//! additional data, as the host's edge opens them.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jm_service::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// The protected header of every token.
const HEADER: &str = r#"{"alg":"dir","enc":"A256GCM"}"#;
/// The length of the AES-GCM tag at the end of the sealed claims.
const TAG_LEN: usize = 16;

/// `type` of an access token.
pub const ACCESS: &str = "ACCESS";
/// `type` of a refresh token.
pub const REFRESH: &str = "REFRESH";
/// `role` of a company's tokens.
pub const COMPANY_ROLE: &str = "COMPANY";

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The company id.
    pub sub: String,
    /// The role.
    pub role: String,
    /// [`ACCESS`] or [`REFRESH`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The token's id, its key in Redis.
    pub jti: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// Seals and opens tokens with one key.
pub struct Sealer(Aes256Gcm);

impl Sealer {
    /// The sealer for a base64url key of 32 bytes.
    pub fn new(key: &str) -> ApiResult<Self> {
        let key = B64
            .decode(key.trim().trim_end_matches('='))
            .map_err(|_| ApiError::internal("the token key is not base64url"))?;
        Aes256Gcm::new_from_slice(&key)
            .map(Self)
            .map_err(|_| ApiError::internal("the token key is not 32 bytes"))
    }

    /// The sealer for the key of variable `token_key`.
    pub async fn from_config() -> ApiResult<Self> {
        Self::new(&crate::config::text("token_key").await?)
    }

    /// The compact JWE of `claims`, with `iv` as its 12-byte initialisation vector.
    pub fn seal(&self, claims: &Claims, iv: &[u8]) -> ApiResult<String> {
        let header = B64.encode(HEADER);
        let claims = serde_json::to_vec(claims).map_err(ApiError::internal)?;
        let payload = Payload {
            msg: &claims,
            aad: header.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(iv), payload)
            .map_err(|_| ApiError::internal("a token could not be sealed"))?;
        let (text, tag) = sealed.split_at(sealed.len().saturating_sub(TAG_LEN));
        Ok(format!(
            "{header}..{}.{}.{}",
            B64.encode(iv),
            B64.encode(text),
            B64.encode(tag)
        ))
    }

    /// The claims of `token`, if it is a token of this key that nobody altered.
    pub fn open(&self, token: &str) -> Option<Claims> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [header, "", iv, text, tag] = parts.as_slice() else {
            return None;
        };
        let fields: serde_json::Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if fields["alg"] != "dir" || fields["enc"] != "A256GCM" {
            return None;
        }
        let iv = B64.decode(iv).ok().filter(|iv| iv.len() == 12)?;
        let mut sealed = B64.decode(text).ok()?;
        sealed.extend(B64.decode(tag).ok()?);
        let payload = Payload {
            msg: &sealed,
            aad: header.as_bytes(),
        };
        let plain = self.0.decrypt(Nonce::from_slice(&iv), payload).ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ZGV2ZWxvcG1lbnQta2V5LW9ubHktMzItYnl0ZXMhISE";

    fn claims() -> Claims {
        Claims {
            sub: "c1".into(),
            role: COMPANY_ROLE.into(),
            kind: ACCESS.into(),
            jti: "j1".into(),
            iat: 1,
            exp: 2,
        }
    }

    #[test]
    fn a_sealed_token_opens_with_its_key_only() {
        let sealer = Sealer::new(KEY).unwrap();
        let token = sealer.seal(&claims(), &[7; 12]).unwrap();
        assert_eq!(token.split('.').count(), 5);
        assert_eq!(sealer.open(&token), Some(claims()));
        let other = Sealer::new(&B64.encode([9u8; 32])).unwrap();
        assert_eq!(other.open(&token), None);
    }

    #[test]
    fn an_altered_token_does_not_open() {
        let sealer = Sealer::new(KEY).unwrap();
        let token = sealer.seal(&claims(), &[7; 12]).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[3] = B64.encode(b"{\"sub\":\"c2\"}");
        assert_eq!(sealer.open(&parts.join(".")), None);
        assert_eq!(sealer.open("not.a.token"), None);
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(Sealer::new("c2hvcnQ").is_err());
    }
}
