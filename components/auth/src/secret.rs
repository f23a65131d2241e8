//! Secrets made here: random bytes and ids from the host's CSPRNG, and passwords hashed
//! with Argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane) as PHC strings.

use argon2::password_hash::SaltString;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use jm_service::{ApiError, ApiResult};

/// Memory cost in KiB, passes and lanes (OWASP's Password Storage Cheat Sheet).
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// `n` random bytes; the host may answer short, so ask until there are enough.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n);
    while bytes.len() < n {
        let missing = (n - bytes.len()) as u64;
        bytes.extend(spin_sdk::wasip3::random::random::get_random_bytes(missing));
    }
    bytes.truncate(n);
    bytes
}

/// A random (version 4) UUID.
pub fn new_id() -> String {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&random_bytes(16));
    uuid::Builder::from_random_bytes(raw)
        .into_uuid()
        .to_string()
}

fn hasher() -> ApiResult<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(ApiError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> ApiResult<String> {
    let salt = SaltString::encode_b64(&random_bytes(16)).map_err(ApiError::internal)?;
    let hash = hasher()?.hash_password(password.as_bytes(), &salt);
    hash.map(|h| h.to_string()).map_err(ApiError::internal)
}

/// Whether `password` matches the PHC string `stored`.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    hasher().is_ok_and(|h| h.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Spends the time of one verification, so that an unknown email answers as slowly as a
/// wrong password and does not reveal which emails have accounts.
pub fn verify_nobody(password: &str) {
    let _ = hash(password);
}
