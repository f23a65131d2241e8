//! A company profile as stored and shown, and finding one across the shards.
//!
//! A company's row lives in the shard of its country. While a move between shards is under
//! way (see `relocate`), or after one failed half-way, two copies can exist for a moment: the
//! copy with the higher `revision` is the profile, and the other is deleted when seen.

use jm_service::ApiError;
use serde::Serialize;
use spin_sdk::pg::{Connection, Decode, Row};

use crate::shard::{self, DbError, RETRY_AFTER};

/// The columns every profile query selects, in the order [`Profile::from_row`] reads them.
pub const COLUMNS: &str = "company_id::text AS company_id, company_name, email, country, city, \
    address, phone_number, about_us, who_we_are_looking_for, logo_url, premium, revision";

/// A company's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The company's id (the account's id in auth).
    pub company_id: String,
    /// The company's name.
    pub company_name: String,
    /// The account's email, kept for operators and never shown publicly.
    #[serde(skip)]
    pub email: String,
    /// ISO 3166-1 alpha-2 code of the company's country.
    pub country: String,
    /// The city, if given.
    pub city: Option<String>,
    /// The street address, if given.
    pub address: Option<String>,
    /// The phone number, `+` and digits.
    pub phone_number: Option<String>,
    /// What the company says about itself.
    pub about_us: Option<String>,
    /// Whom the company wants to hire.
    pub who_we_are_looking_for: Option<String>,
    /// The logo's URL, set when media stores a logo.
    pub logo_url: Option<String>,
    /// Whether the company has a premium subscription.
    pub premium: bool,
    /// Incremented by every change; the higher revision wins between two copies.
    #[serde(skip)]
    pub revision: i64,
}

/// Reads a column that must be there.
fn column<T: Decode>(row: &Row, name: &str) -> Result<T, DbError> {
    row.get(name)
        .ok_or_else(|| DbError::Failed(format!("column `{name}` is missing")))
}

impl Profile {
    /// Reads a row selected with [`COLUMNS`].
    pub fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self {
            company_id: column(row, "company_id")?,
            company_name: column(row, "company_name")?,
            email: column(row, "email")?,
            country: column(row, "country")?,
            city: column(row, "city")?,
            address: column(row, "address")?,
            phone_number: column(row, "phone_number")?,
            about_us: column(row, "about_us")?,
            who_we_are_looking_for: column(row, "who_we_are_looking_for")?,
            logo_url: column(row, "logo_url")?,
            premium: column(row, "premium")?,
            revision: column(row, "revision")?,
        })
    }
}

/// The profile of `company_id` in `db`, if that shard has it.
pub async fn fetch(db: &Connection, company_id: &str) -> Result<Option<Profile>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM company_profile WHERE company_id = $1");
    let rows = db
        .query(sql, vec![shard::uuid(company_id)])
        .await?
        .collect()
        .await?;
    rows.first().map(Profile::from_row).transpose()
}

/// A profile and the shard it lives in.
#[derive(Debug, Clone)]
pub struct Located {
    /// The shard holding the profile.
    pub shard: u8,
    /// The profile.
    pub profile: Profile,
}

/// Finds the profile of `company_id` in whichever shard holds it: 404 when every shard
/// answered without it, 503 when it is in none of the shards that answered but some did not.
pub async fn locate(company_id: &str) -> Result<Located, ApiError> {
    if !shard::is_uuid(company_id) {
        return Err(ApiError::not_found("no profile for this company"));
    }
    let answers = shard::each(&shard::ALL, |n| async move {
        let db = shard::connect(n).await?;
        fetch(&db, company_id).await
    })
    .await;
    let mut found = Vec::new();
    let mut failed = false;
    for (n, answer) in answers {
        match answer {
            Ok(Some(profile)) => found.push(Located { shard: n, profile }),
            Ok(None) => {}
            Err(error) => {
                eprintln!("profile lookup in shard {n} failed: {error}");
                failed = true;
            }
        }
    }
    match newest(found).await {
        Some(located) => Ok(located),
        None if failed => Err(ApiError::unavailable(
            "the profile store is partly unavailable",
            RETRY_AFTER,
        )),
        None => Err(ApiError::not_found("no profile for this company")),
    }
}

/// The copy with the highest revision; older copies are deleted, as far as their shard lets.
async fn newest(mut copies: Vec<Located>) -> Option<Located> {
    copies.sort_by_key(|c| (c.profile.revision, std::cmp::Reverse(c.shard)));
    let newest = copies.pop()?;
    let (id, revision) = (&newest.profile.company_id, newest.profile.revision);
    let limit = shard::timeout().await;
    for stale in copies {
        let cleanup = delete_stale(stale.shard, id, revision);
        if let Err(error) = shard::within(stale.shard, limit, cleanup).await {
            eprintln!(
                "stale profile copy in shard {} stays for now: {error}",
                stale.shard
            );
        }
    }
    Some(newest)
}

/// Deletes a copy of `company_id` in `shard` that is not newer than `revision`.
pub async fn delete_stale(shard: u8, company_id: &str, revision: i64) -> Result<u64, DbError> {
    let db = shard::connect(shard).await?;
    let sql = "DELETE FROM company_profile WHERE company_id = $1 AND revision <= $2";
    Ok(db
        .execute(sql, vec![shard::uuid(company_id), revision.into()])
        .await?)
}
