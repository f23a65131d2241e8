//! `POST /api/login` (flow 2, SPEC 6.2): the lockout first, then the credentials; a
//! success issues a token pair as cookies and answers the account's subscription.

use jm_service::validate::Validator;
use jm_service::{ApiError, ApiResult, Reply};
use serde::Deserialize;
use spin_sdk::redis::Connection as Redis;

use crate::account::{self, Account, Status};
use crate::jwe::Sealer;
use crate::lockout::{self, Policy};
use crate::{config, secret, tokens};

#[derive(Deserialize)]
struct Body {
    email: Option<String>,
    password: Option<String>,
}

/// Handles `POST /api/login`.
pub async fn handle(req: spin_sdk::http::Request) -> ApiResult {
    let body: Body = jm_service::json_body(req).await?;
    let mut v = Validator::new();
    v.required(body.email.as_deref(), "email");
    v.required(body.password.as_deref(), "password");
    v.finish()?;
    let email = body.email.unwrap_or_default().trim().to_string();
    let password = body.password.unwrap_or_default();

    let redis = config::redis().await?;
    lockout::check(&redis, &email).await?;
    let db = config::db().await?;
    let found = account::by_email(&db, &email).await?;
    let Some(account) = verified(found, &password) else {
        let (window, lock) = config::lockout().await;
        return Err(lockout::fail(&redis, Policy { window, lock }, &email).await?);
    };
    if account.status == Status::Pending {
        return Err(ApiError::forbidden(
            "the registration of this account is not complete: register again with the same body",
        ));
    }
    lockout::clear(&redis, &email).await?;
    let sealer = Sealer::from_config().await?;
    signed_in(&redis, &sealer, &account).await
}

/// The account if `password` is its password; an unknown email costs the same time.
fn verified(account: Option<Account>, password: &str) -> Option<Account> {
    match account {
        Some(account) if secret::verify(password, &account.password_hash) => Some(account),
        Some(_) => None,
        None => {
            secret::verify_nobody(password);
            None
        }
    }
}

/// 200 with the account's summary, and a new token pair as cookies.
pub async fn signed_in(redis: &Redis, sealer: &Sealer, account: &Account) -> ApiResult {
    let pair = tokens::issue(redis, sealer, &account.id).await?;
    let body = serde_json::json!({
        "companyId": account.id,
        "email": account.email,
        "premium": account.premium(),
        "premiumExpiresAt": account.premium_expires_at(),
    });
    Ok(tokens::set_cookies(Reply::json(200, &body), &pair))
}
