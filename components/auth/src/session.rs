//! The signed-in company's session: `POST /api/refresh` rotates the refresh token (a public
//! route: the token is checked here), `POST /api/logout` revokes both tokens, and
//! `GET /api/me` answers the account and its subscription.

use jm_service::{ApiError, ApiResult, Reply, TOKEN_ID_HEADER};

use crate::account::{self, Status};
use crate::jwe::{REFRESH, Sealer};
use crate::tokens::{self, REFRESH_COOKIE, Spent};
use crate::{config, login};

/// Handles `POST /api/refresh`: a valid, unused refresh token buys a new pair; one used
/// before revokes every refresh token of its company.
pub async fn refresh(req: spin_sdk::http::Request) -> ApiResult {
    let token = tokens::cookie_value(&req, REFRESH_COOKIE)
        .ok_or_else(|| ApiError::unauthorized("a refresh token is required"))?;
    let sealer = Sealer::from_config().await?;
    let claims = sealer
        .open(&token)
        .filter(|claims| claims.kind == REFRESH)
        .ok_or_else(|| ApiError::unauthorized("the refresh token is not valid"))?;
    if claims.exp <= crate::now() {
        return Err(ApiError::other(
            401,
            "TOKEN_EXPIRED",
            "the refresh token has expired",
        ));
    }

    let redis = config::redis().await?;
    match tokens::spend(&redis, &claims.jti).await? {
        Spent::Fresh => {}
        Spent::Reused => {
            tokens::revoke_family(&redis, &claims.sub).await?;
            let message = "the refresh token was used before: log in again";
            return Err(ApiError::unauthorized(message));
        }
        Spent::Unknown => return Err(ApiError::unauthorized("the refresh token was revoked")),
    }
    let db = config::db().await?;
    let account = account::by_id(&db, &claims.sub)
        .await?
        .filter(|account| account.status == Status::Active)
        .ok_or_else(|| ApiError::unauthorized("the account of this token no longer exists"))?;
    login::signed_in(&redis, &sealer, &account).await
}

/// Handles `POST /api/logout`: revokes the access token the edge verified and the refresh
/// token of the cookie, if any, then clears both cookies.
pub async fn logout(req: spin_sdk::http::Request) -> ApiResult {
    let company_id = jm_service::company_id(&req)?;
    let redis = config::redis().await?;
    if let Some(jti) = jm_service::header(&req, TOKEN_ID_HEADER) {
        tokens::revoke_access(&redis, &jti).await?;
    }
    if let Some(token) = tokens::cookie_value(&req, REFRESH_COOKIE) {
        let sealer = Sealer::from_config().await?;
        let own = sealer
            .open(&token)
            .filter(|c| c.kind == REFRESH && c.sub == company_id);
        if let Some(claims) = own {
            tokens::revoke_refresh(&redis, &company_id, &claims.jti).await?;
        }
    }
    Ok(tokens::clear_cookies(Reply::empty(204)))
}

/// Handles `GET /api/me`.
pub async fn me(req: spin_sdk::http::Request) -> ApiResult {
    let company_id = jm_service::company_id(&req)?;
    let db = config::db().await?;
    let account = account::by_id(&db, &company_id)
        .await?
        .ok_or_else(|| ApiError::not_found("there is no account for this token"))?;
    let body = serde_json::json!({
        "companyId": account.id,
        "email": account.email,
        "companyName": account.company_name,
        "premium": account.premium(),
        "premiumExpiresAt": account.premium_expires_at(),
        "status": account.status.as_str(),
    });
    Ok(Reply::json(200, &body))
}
