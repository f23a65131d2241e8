//! A multipart form read from a request: the body held whole, refused with 413 as soon as
//! it passes the route's limit (by `Content-Length` first, then while reading).

use futures::StreamExt as _;
use jm_service::{ApiError, ApiResult, header};
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt as _;

use crate::multipart::{self, Part};

/// A form's body and boundary.
pub struct Form {
    body: Vec<u8>,
    boundary: String,
}

impl Form {
    /// Reads a `multipart/form-data` body of at most `limit` bytes; past it, 413 with
    /// `too_large` as the message.
    pub async fn read(req: Request, limit: usize, too_large: &str) -> ApiResult<Self> {
        let content_type = header(&req, "content-type").unwrap_or_default();
        let boundary = multipart::boundary(&content_type)
            .ok_or_else(|| ApiError::invalid("body", "must be multipart/form-data"))?;
        let declared = header(&req, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(ApiError::payload_too_large(too_large));
        }
        let capacity = declared.map_or(0, |length| length as usize);
        let mut body = Vec::with_capacity(capacity);
        let mut stream = req.into_body().stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| ApiError::invalid("body", "could not be read"))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::payload_too_large(too_large));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self { body, boundary })
    }

    /// The parts that carry a file.
    pub fn files(&self) -> ApiResult<Vec<Part<'_>>> {
        let parts = multipart::parse(&self.body, &self.boundary)
            .map_err(|why| ApiError::invalid("body", why.0))?;
        Ok(parts
            .into_iter()
            .filter(|part| part.filename.is_some())
            .collect())
    }
}

/// A byte count as the client reads it: `2 MiB`, `64 KiB`.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size(2 << 20), "2 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size((2 << 20) + (64 << 10)), "2112 KiB");
        assert_eq!(size(10), "10 bytes");
    }
}
