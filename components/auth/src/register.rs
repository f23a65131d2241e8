//! `POST /api/register` (flow 1): validates the body, keeps a `PENDING` account, asks
//! profile over `JM_COMPANY_REGISTRATION` to create the company's profile and waits for the
//! reply. Confirmed: the account becomes `ACTIVE`, 201. Refused: the account is removed and
//! the reason answered. No reply in time: 503, and the `PENDING` account stays, so that a
//! retry with the same body re-sends the same companyId, or a late reply completes it.

use jm_kafka::{Message, Outcome};
use jm_service::validate::{self, Validator};
use jm_service::{ApiError, ApiResult, Reply};
use serde::{Deserialize, Serialize};
use spin_sdk::pg::Connection as Db;

use crate::account::{self, Account, Status};
use crate::{config, secret};

/// The request topic; profile answers on `<TOPIC>_REPLY`.
pub const TOPIC: &str = "JM_COMPANY_REGISTRATION";
/// Seconds a client should wait before retrying a registration that timed out.
const RETRY_AFTER_SECS: u32 = 5;
/// The longest company name, city, address or password accepted.
const MAX_TEXT: usize = 200;
const MAX_PASSWORD: usize = 128;

/// The body as sent; every field is optional here so that each missing one is reported.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    company_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    country: Option<String>,
    phone_number: Option<String>,
    city: Option<String>,
    address: Option<String>,
}

/// A valid registration, trimmed; blank optional fields are absent.
struct Registration {
    company_name: String,
    email: String,
    password: String,
    country: String,
    phone_number: Option<String>,
    city: Option<String>,
    address: Option<String>,
}

/// The value of `JM_COMPANY_REGISTRATION`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileRequest<'a> {
    company_id: &'a str,
    company_name: &'a str,
    email: &'a str,
    country: &'a str,
    city: Option<&'a str>,
    address: Option<&'a str>,
    phone_number: Option<&'a str>,
}

/// The value of `JM_COMPANY_REGISTRATION_REPLY`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileReply {
    company_id: String,
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// What profile made of the request.
enum Answer {
    Created,
    Refused(Option<String>),
    NoReply,
}

/// Handles `POST /api/register`.
pub async fn handle(req: spin_sdk::http::Request) -> ApiResult {
    let registration = validated(jm_service::json_body(req).await?)?;
    let db = config::db().await?;
    let account = match claim(&db, &registration).await? {
        Claim::Pending(account) => account,
        Claim::Done(account) => return Ok(created(&account)),
    };
    match ask_profile(&account.id, &registration).await? {
        Answer::Created if account::activate(&db, &account.id).await? => Ok(created(&account)),
        Answer::Created => Err(ApiError::internal("a confirmed account vanished")),
        Answer::Refused(reason) => {
            account::discard_pending(&db, &account.id).await?;
            Err(refused(reason))
        }
        Answer::NoReply => Err(ApiError::unavailable(
            "the company profile could not be created in time: retry the same request",
            RETRY_AFTER_SECS,
        )),
    }
}

fn created(account: &Account) -> Reply {
    let body = serde_json::json!({ "companyId": account.id, "email": account.email });
    Reply::json(201, &body)
}

/// Trims what matters and keeps blank optional fields out.
fn present(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Every rule of SPEC 2 at once, one detail per bad field.
fn validated(body: Body) -> ApiResult<Registration> {
    let company_name = present(body.company_name);
    let email = present(body.email);
    let password = body.password.filter(|p| !p.is_empty());
    let country = present(body.country);
    let (phone_number, city, address) = (
        present(body.phone_number),
        present(body.city),
        present(body.address),
    );

    let mut v = Validator::new();
    rule(&mut v, "companyName", company_name.as_deref(), true, short);
    rule(&mut v, "email", email.as_deref(), true, email_rule);
    rule(&mut v, "password", password.as_deref(), true, password_rule);
    rule(&mut v, "country", country.as_deref(), true, country_rule);
    rule(
        &mut v,
        "phoneNumber",
        phone_number.as_deref(),
        false,
        phone_rule,
    );
    rule(&mut v, "city", city.as_deref(), false, short);
    rule(&mut v, "address", address.as_deref(), false, short);
    v.finish()?;

    Ok(Registration {
        company_name: company_name.unwrap_or_default(),
        email: email.unwrap_or_default(),
        password: password.unwrap_or_default(),
        country: country.map(normalise_country).unwrap_or_default(),
        phone_number,
        city,
        address,
    })
}

/// Records "is required" for a missing required field, else the check's complaint, if any.
fn rule(
    v: &mut Validator,
    field: &str,
    value: Option<&str>,
    required: bool,
    check: impl Fn(&str) -> Option<&'static str>,
) {
    match value {
        None if required => {
            v.required(None, field);
        }
        None => {}
        Some(value) => {
            if let Some(message) = check(value) {
                v.check(false, field, message);
            }
        }
    }
}

fn short(value: &str) -> Option<&'static str> {
    (value.chars().count() > MAX_TEXT).then_some("must be at most 200 characters")
}

fn email_rule(email: &str) -> Option<&'static str> {
    (!validate::is_email(email))
        .then_some("must be at most 254 characters with one @, a dot after it and no spaces")
}

fn password_rule(password: &str) -> Option<&'static str> {
    if password.chars().count() > MAX_PASSWORD {
        return Some("must be at most 128 characters");
    }
    (!validate::is_strong_password(password)).then_some(
        "must be at least 8 characters with a digit, an upper-case letter and one of !@#$%^&*",
    )
}

fn phone_rule(phone: &str) -> Option<&'static str> {
    (!validate::is_phone(phone)).then_some("must be + and a dial code, then at most 12 digits")
}

/// A country as auth accepts it: two letters (an ISO 3166 alpha-2 code) or a name in
/// letters, spaces and `.'-()`. Profile owns the list of countries and refuses unknown ones.
fn country_rule(country: &str) -> Option<&'static str> {
    let letters = country.chars().filter(|c| c.is_alphabetic()).count();
    let code = country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic());
    let name = letters >= 3
        && country.chars().count() <= 60
        && country
            .chars()
            .all(|c| c.is_alphabetic() || " .'-()".contains(c));
    (!code && !name).then_some("must be an ISO 3166 alpha-2 code or a country name")
}

/// Alpha-2 codes travel in upper case; names as typed.
fn normalise_country(country: String) -> String {
    if country.len() == 2 {
        country.to_ascii_uppercase()
    } else {
        country
    }
}

/// The account a registration works on.
enum Claim {
    /// A `PENDING` account to confirm with profile: new, or left by an attempt that timed out.
    Pending(Account),
    /// The same registration completed already (a late reply confirmed it): answer 201 again.
    Done(Account),
}

/// Finds or makes the account of a registration; 409 when the email belongs to another one.
async fn claim(db: &Db, registration: &Registration) -> ApiResult<Claim> {
    let taken = || ApiError::conflict("an account with this email exists already");
    let Some(existing) = account::by_email(db, &registration.email).await? else {
        let account = new_account(registration)?;
        return match account::insert_pending(db, &account).await? {
            true => Ok(Claim::Pending(account)),
            false => Err(taken()),
        };
    };
    // Only the registrant knows the password: anyone else is told the email is taken.
    if !secret::verify(&registration.password, &existing.password_hash) {
        return Err(taken());
    }
    match existing.status {
        Status::Pending => {
            account::rename_pending(db, &existing.id, &registration.company_name).await?;
            Ok(Claim::Pending(existing))
        }
        Status::Active if existing.company_name == registration.company_name => {
            Ok(Claim::Done(existing))
        }
        Status::Active => Err(taken()),
    }
}

fn new_account(registration: &Registration) -> ApiResult<Account> {
    Ok(Account {
        id: secret::new_id(),
        email: registration.email.clone(),
        company_name: registration.company_name.clone(),
        password_hash: secret::hash(&registration.password)?,
        status: Status::Pending,
        premium_until: None,
    })
}

/// Sends the registration to profile and waits for its reply.
async fn ask_profile(company_id: &str, registration: &Registration) -> ApiResult<Answer> {
    let request = ProfileRequest {
        company_id,
        company_name: &registration.company_name,
        email: &registration.email,
        country: &registration.country,
        city: registration.city.as_deref(),
        address: registration.address.as_deref(),
        phone_number: registration.phone_number.as_deref(),
    };
    let timeout = config::registration_timeout_ms().await;
    let reply = jm_kafka::request::<_, ProfileReply>(TOPIC, Some(company_id), &request, timeout);
    match reply.await {
        Ok(reply) if reply.ok => Ok(Answer::Created),
        Ok(reply) => Ok(Answer::Refused(reply.error)),
        Err(error) if error.is_timeout() => Ok(Answer::NoReply),
        Err(jm_kafka::KafkaError::Kafka(jm_kafka::Error::Broker(why))) => {
            eprintln!("registration of {company_id} not sent: broker: {why}");
            Ok(Answer::NoReply)
        }
        Err(error) => Err(ApiError::internal(format!("registration request: {error}"))),
    }
}

/// Profile's refusal as a validation error on the field its reason names.
fn refused(reason: Option<String>) -> ApiError {
    let reason = reason.unwrap_or_else(|| "the company profile could not be created".into());
    let lower = reason.to_lowercase();
    let fields = [
        ("country", "country"),
        ("city", "city"),
        ("address", "address"),
        ("phone", "phoneNumber"),
        ("email", "email"),
        ("name", "companyName"),
    ];
    let field = fields
        .iter()
        .find(|(word, _)| lower.contains(word))
        .map_or("body", |f| f.1);
    ApiError::invalid(field, reason)
}

/// Handles a reply that came after its request gave up: a confirmation completes the
/// `PENDING` account on its own; a refusal is left for the retry, which will hear it again.
pub async fn late_reply(message: &Message) -> Outcome {
    let reply: ProfileReply = match message.value_as() {
        Ok(reply) => reply,
        Err(error) => return Outcome::Reject(format!("not a registration reply: {error}")),
    };
    if !reply.ok {
        return Outcome::Ok;
    }
    let activated = match config::db().await {
        Ok(db) => account::activate_pending(&db, &reply.company_id).await,
        Err(error) => Err(error),
    };
    match activated {
        Ok(()) => Outcome::Ok,
        Err(error) => Outcome::RetryLater(format!("activation failed: {}", error.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body {
            company_name: Some(" Acme ".into()),
            email: Some("hr@acme.example".into()),
            password: Some("Secret1!".into()),
            country: Some("vn".into()),
            phone_number: Some("".into()),
            city: None,
            address: None,
        }
    }

    #[test]
    fn a_valid_body_is_trimmed_and_its_code_upper_cased() {
        let registration = validated(body()).unwrap();
        assert_eq!(registration.company_name, "Acme");
        assert_eq!(registration.country, "VN");
        assert_eq!(registration.phone_number, None);
    }

    #[test]
    fn every_bad_field_gets_one_detail() {
        let bad = Body {
            company_name: None,
            email: Some("a b@c".into()),
            password: Some("weak".into()),
            country: Some("1".into()),
            phone_number: Some("0123".into()),
            city: Some("x".repeat(201)),
            address: None,
        };
        let error = validated(bad).err().unwrap();
        let fields: Vec<&str> = error.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "companyName",
                "email",
                "password",
                "country",
                "phoneNumber",
                "city"
            ]
        );
    }

    #[test]
    fn countries_are_codes_or_names() {
        assert_eq!(country_rule("SG"), None);
        assert_eq!(country_rule("Viet Nam"), None);
        assert_eq!(country_rule("Côte d'Ivoire"), None);
        assert!(country_rule("V1").is_some() && country_rule("A").is_some());
    }

    #[test]
    fn a_refusal_lands_on_the_field_it_names() {
        assert_eq!(
            refused(Some("unknown country".into())).details[0].field,
            "country"
        );
        assert_eq!(refused(None).details[0].field, "body");
    }
}
