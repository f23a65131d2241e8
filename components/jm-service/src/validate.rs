//! Field validation that collects every problem of a request before answering.

use crate::{ApiError, FieldError};

/// Collects field errors; [`Validator::finish`] answers `VALIDATION_ERROR` if there are any.
#[derive(Debug, Default)]
pub struct Validator {
    details: Vec<FieldError>,
}

impl Validator {
    /// A validator with no errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error for `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, message: &str) -> &mut Self {
        if !ok {
            self.details.push(FieldError {
                field: field.into(),
                message: message.into(),
            });
        }
        self
    }

    /// Records that `field` is required when it is missing or blank.
    pub fn required(&mut self, value: Option<&str>, field: &str) -> &mut Self {
        let present = value.is_some_and(|v| !v.trim().is_empty());
        self.check(present, field, "is required")
    }

    /// Ok when nothing was recorded, else `VALIDATION_ERROR` with every detail.
    pub fn finish(&mut self) -> Result<(), ApiError> {
        if self.details.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(std::mem::take(&mut self.details)))
        }
    }
}

/// An email as the API accepts it: at most 254 characters, exactly one `@` with a dot after
/// it, and no spaces.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

/// A password as the API accepts it: at least 8 characters with a digit, an upper-case
/// letter and one of `!@#$%^&*`.
pub fn is_strong_password(password: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| "!@#$%^&*".contains(c))
}

/// A phone number as the API accepts it: `+`, a dial code, then at most 12 digits in all.
pub fn is_phone(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("a@b.co"));
        assert!(!is_email("a@@b.co") && !is_email("a b@c.de") && !is_email("a@bco"));
    }

    #[test]
    fn passwords() {
        assert!(is_strong_password("Secret1!"));
        assert!(!is_strong_password("secret1!") && !is_strong_password("Secret!!"));
    }

    #[test]
    fn validator_collects_all_fields() {
        let mut v = Validator::new();
        v.required(None, "email")
            .check(false, "password", "too weak");
        let error = v.finish().unwrap_err();
        assert_eq!(error.details.len(), 2);
    }
}
