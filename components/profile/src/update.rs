//! `PUT /api/profile`: the caller changes its own profile. Fields left out keep their value; a
//! `null` or blank optional field is cleared. Every bad field is reported at once. A new
//! country whose shard differs moves the row (see `relocate`); otherwise the row is updated in
//! place. Both check the revision the change was based on and start over once if it moved on.

use jm_service::validate::{Validator, is_phone};
use jm_service::{ApiError, ApiResult, Reply, company_id, json_body};
use serde_json::{Map, Value};
use spin_sdk::http::Request;
use spin_sdk::pg::ParameterValue;

use crate::country;
use crate::profile::{Located, Profile, locate};
use crate::relocate::relocate;
use crate::shard::{self, DbError};

/// The longest values accepted, in characters.
const MAX_NAME: usize = 200;
const MAX_CITY: usize = 100;
const MAX_ADDRESS: usize = 300;
const MAX_TEXT: usize = 5000;

/// Why a save did not happen.
#[derive(Debug)]
pub enum SaveError {
    /// The row changed (or moved) since it was read.
    Stale,
    /// A shard failed.
    Db(DbError),
}

impl From<DbError> for SaveError {
    fn from(error: DbError) -> Self {
        Self::Db(error)
    }
}

impl From<spin_sdk::pg::Error> for SaveError {
    fn from(error: spin_sdk::pg::Error) -> Self {
        Self::Db(error.into())
    }
}

/// The requested changes; `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Debug, Default)]
struct Changes {
    company_name: Option<String>,
    country: Option<&'static str>,
    city: Option<Option<String>>,
    address: Option<Option<String>>,
    phone_number: Option<Option<String>>,
    about_us: Option<Option<String>>,
    who_we_are_looking_for: Option<Option<String>>,
}

/// An optional text field: absent, cleared (`null` or blank), or set (trimmed).
fn optional(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
    v: &mut Validator,
) -> Option<Option<String>> {
    match body.get(field)? {
        Value::Null => Some(None),
        Value::String(text) if text.trim().is_empty() => Some(None),
        Value::String(text) => {
            let text = text.trim();
            let message = format!("must be at most {max} characters");
            v.check(text.chars().count() <= max, field, &message);
            Some(Some(text.to_string()))
        }
        _ => {
            v.check(false, field, "must be a string");
            None
        }
    }
}

/// A required text field: absent, or set to a non-blank string.
fn required(body: &Map<String, Value>, field: &str, v: &mut Validator) -> Option<String> {
    match body.get(field)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::String(_) | Value::Null => {
            v.check(false, field, "cannot be empty");
            None
        }
        _ => {
            v.check(false, field, "must be a string");
            None
        }
    }
}

/// The fields a client may send.
const FIELDS: [&str; 7] = [
    "companyName",
    "country",
    "city",
    "address",
    "phoneNumber",
    "aboutUs",
    "whoWeAreLookingFor",
];

fn parse(body: Value) -> ApiResult<Changes> {
    let Value::Object(body) = body else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    let mut v = Validator::new();
    for key in body.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        v.check(false, key, "is not a field that can be changed here");
    }
    let company_name = required(&body, "companyName", &mut v);
    if let Some(name) = &company_name {
        let message = format!("must be at most {MAX_NAME} characters");
        v.check(name.chars().count() <= MAX_NAME, "companyName", &message);
    }
    let country = required(&body, "country", &mut v).and_then(|text| {
        let found = country::find(&text);
        v.check(
            found.is_some(),
            "country",
            "is not a known country name or ISO 3166 code",
        );
        found.map(|c| c.code)
    });
    let phone_number = optional(&body, "phoneNumber", 16, &mut v);
    if let Some(Some(phone)) = &phone_number {
        let message = "must be + and a dial code, then at most 12 digits";
        v.check(is_phone(phone), "phoneNumber", message);
    }
    let changes = Changes {
        company_name,
        country,
        city: optional(&body, "city", MAX_CITY, &mut v),
        address: optional(&body, "address", MAX_ADDRESS, &mut v),
        phone_number,
        about_us: optional(&body, "aboutUs", MAX_TEXT, &mut v),
        who_we_are_looking_for: optional(&body, "whoWeAreLookingFor", MAX_TEXT, &mut v),
    };
    v.finish()?;
    Ok(changes)
}

impl Changes {
    /// `current` with these changes, at the next revision.
    fn apply(&self, current: &Profile) -> Profile {
        let pick = |change: &Option<Option<String>>, old: &Option<String>| {
            change.clone().unwrap_or_else(|| old.clone())
        };
        Profile {
            company_name: self
                .company_name
                .clone()
                .unwrap_or(current.company_name.clone()),
            country: self.country.map_or(current.country.clone(), str::to_string),
            city: pick(&self.city, &current.city),
            address: pick(&self.address, &current.address),
            phone_number: pick(&self.phone_number, &current.phone_number),
            about_us: pick(&self.about_us, &current.about_us),
            who_we_are_looking_for: pick(
                &self.who_we_are_looking_for,
                &current.who_we_are_looking_for,
            ),
            revision: current.revision + 1,
            ..current.clone()
        }
    }
}

/// Saves `wanted` over revision `base` in `shard`.
async fn save_in_place(shard: u8, base: i64, wanted: &Profile) -> Result<(), SaveError> {
    let db = shard::connect(shard).await?;
    let sql = "UPDATE company_profile SET company_name = $2, country = $3, city = $4, \
        address = $5, phone_number = $6, about_us = $7, who_we_are_looking_for = $8, \
        revision = $9, updated_at = now() WHERE company_id = $1 AND revision = $10";
    let params = vec![
        shard::uuid(&wanted.company_id),
        ParameterValue::Str(wanted.company_name.clone()),
        ParameterValue::Str(wanted.country.clone()),
        shard::text(wanted.city.as_deref()),
        shard::text(wanted.address.as_deref()),
        shard::text(wanted.phone_number.as_deref()),
        shard::text(wanted.about_us.as_deref()),
        shard::text(wanted.who_we_are_looking_for.as_deref()),
        ParameterValue::Int64(wanted.revision),
        ParameterValue::Int64(base),
    ];
    match db.execute(sql, params).await? {
        0 => Err(SaveError::Stale),
        _ => Ok(()),
    }
}

/// Saves the changes over `current`, in place or by moving the row to another shard.
async fn save(current: &Located, changes: &Changes) -> Result<Profile, SaveError> {
    let wanted = changes.apply(&current.profile);
    let target = country::find(&wanted.country).map_or(current.shard, |c| c.shard);
    if target != current.shard {
        return relocate(current, target, &wanted).await;
    }
    let limit = shard::timeout().await;
    let base = current.profile.revision;
    let in_place = async { Ok(save_in_place(current.shard, base, &wanted).await) };
    shard::within(current.shard, limit, in_place).await??;
    Ok(wanted)
}

/// `PUT /api/profile`.
pub async fn update(req: Request) -> ApiResult {
    let company = company_id(&req)?;
    let changes = parse(json_body::<Value>(req).await?)?;
    for _ in 0..2 {
        let current = locate(&company).await?;
        match save(&current, &changes).await {
            Ok(saved) => return Ok(Reply::json(200, &saved)),
            Err(SaveError::Stale) => continue,
            Err(SaveError::Db(error)) => return Err(error.into_api()),
        }
    }
    Err(ApiError::conflict(
        "the profile changed while it was being saved; try again",
    ))
}
