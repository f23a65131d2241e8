//! Kafka messages profile handles: `JM_COMPANY_REGISTRATION` from auth creates the profile in
//! the shard of the company's country and replies on `JM_COMPANY_REGISTRATION_REPLY`;
//! `JM_LOGO_UPDATED` from media sets the logo of the company, wherever its row lives.

use jm_kafka::{Handler, Message, Outcome};
use serde::{Deserialize, Serialize};
use spin_sdk::pg::ParameterValue;

use crate::country;
use crate::profile::locate;
use crate::shard::{self, DbError};

/// The registration request auth sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Registration {
    company_id: String,
    company_name: String,
    email: String,
    country: String,
    city: Option<String>,
    address: Option<String>,
    phone_number: Option<String>,
}

/// The reply to a registration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationReply {
    company_id: String,
    ok: bool,
    error: Option<String>,
}

/// A new logo of a company.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogoUpdated {
    company_id: String,
    logo_url: String,
}

/// The component's Kafka handler.
pub struct Events;

impl Handler for Events {
    async fn handle(message: Message) -> Outcome {
        match message.topic.as_str() {
            "JM_COMPANY_REGISTRATION" => match message.value_as::<Registration>() {
                Ok(request) => register(&message, request).await,
                Err(e) => Outcome::Reject(format!("not a registration: {e}")),
            },
            "JM_LOGO_UPDATED" => match message.value_as::<LogoUpdated>() {
                Ok(event) => set_logo(event).await,
                Err(e) => Outcome::Reject(format!("not a logo update: {e}")),
            },
            other => Outcome::Reject(format!("profile does not handle topic {other}")),
        }
    }
}

/// Blank optional text is no text.
fn present(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Why a registration cannot be accepted, as the reply's `error`.
fn refusal(request: &Registration) -> Option<&'static str> {
    if !shard::is_uuid(&request.company_id) {
        return Some("invalid company id");
    }
    if request.company_name.trim().is_empty() {
        return Some("company name is required");
    }
    if country::find(&request.country).is_none() {
        return Some("unknown country");
    }
    None
}

/// Creates the profile (once per company id) and replies whether it exists now.
async fn register(message: &Message, request: Registration) -> Outcome {
    let company_id = request.company_id.clone();
    let error = match refusal(&request) {
        Some(why) => Some(why.to_string()),
        None => match create(request).await {
            Ok(()) => None,
            Err(error) => return Outcome::RetryLater(format!("registration: {error}")),
        },
    };
    let reply = RegistrationReply {
        company_id,
        ok: error.is_none(),
        error,
    };
    match message.reply(&reply).await {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::RetryLater(format!("reply: {e}")),
    }
}

/// Inserts the profile row in the shard of its country; a second insert of the same company
/// does nothing, so a redelivered request answers ok without a second row.
async fn create(request: Registration) -> Result<(), DbError> {
    let Some(country) = country::find(&request.country) else {
        return Err(DbError::Failed("unknown country".into()));
    };
    let db = shard::connect(country.shard).await?;
    let sql = "INSERT INTO company_profile \
        (company_id, company_name, email, country, city, address, phone_number) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (company_id) DO NOTHING";
    let params = vec![
        shard::uuid(&request.company_id),
        ParameterValue::Str(request.company_name.trim().to_string()),
        ParameterValue::Str(request.email.trim().to_string()),
        ParameterValue::Str(country.code.to_string()),
        shard::text(present(request.city).as_deref()),
        shard::text(present(request.address).as_deref()),
        shard::text(present(request.phone_number).as_deref()),
    ];
    let limit = shard::timeout().await;
    shard::within(country.shard, limit, async {
        Ok(db.execute(sql, params).await?)
    })
    .await?;
    Ok(())
}

/// Sets the logo URL of the company in its shard; retried while the company is not found.
async fn set_logo(event: LogoUpdated) -> Outcome {
    if !shard::is_uuid(&event.company_id) {
        return Outcome::Reject("the company id is not a UUID".into());
    }
    let located = match locate(&event.company_id).await {
        Ok(located) => located,
        Err(error) => return Outcome::RetryLater(format!("company: {}", error.message)),
    };
    let update = async {
        let db = shard::connect(located.shard).await?;
        let sql = "UPDATE company_profile SET logo_url = $2, revision = revision + 1, \
            updated_at = now() WHERE company_id = $1";
        let params = vec![
            shard::uuid(&event.company_id),
            event.logo_url.clone().into(),
        ];
        Ok(db.execute(sql, params).await?)
    };
    let limit = shard::timeout().await;
    match shard::within(located.shard, limit, update).await {
        Ok(0) => Outcome::RetryLater("the profile moved while its logo was set".into()),
        Ok(_) => Outcome::Ok,
        Err(error) => Outcome::RetryLater(format!("logo: {error}")),
    }
}
