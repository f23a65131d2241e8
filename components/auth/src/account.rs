//! The `account` table: one row per company, `PENDING` from registration until profile
//! confirms it, then `ACTIVE`. Emails are unique whatever their case; the premium
//! subscription is its expiry, `premium_expires_at`.

use jm_service::{ApiResult, db};
use spin_sdk::pg::{Connection as Db, ParameterValue, Row};

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Registered, waiting for profile's confirmation; it cannot log in.
    Pending,
    /// Registration complete.
    Active,
}

impl Status {
    /// The status as the database and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
        }
    }
}

/// One account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The company id.
    pub id: String,
    /// The email as registered.
    pub email: String,
    /// The company's name.
    pub company_name: String,
    /// The password's PHC string.
    pub password_hash: String,
    /// Where the account stands.
    pub status: Status,
    /// When premium ends, seconds since the epoch, if the company ever had it.
    pub premium_until: Option<i64>,
}

impl Account {
    /// Whether premium runs now.
    pub fn premium(&self) -> bool {
        self.premium_until.is_some_and(|until| until > crate::now())
    }

    /// When premium ends, as RFC 3339, or `null`.
    pub fn premium_expires_at(&self) -> serde_json::Value {
        match self.premium_until {
            Some(until) => jm_service::iso8601(until, 0).into(),
            None => serde_json::Value::Null,
        }
    }
}

const COLUMNS: &str = "id::text AS id, email, company_name, password_hash, status, \
     extract(epoch FROM premium_expires_at)::int8 AS premium_until";

fn text(value: &str) -> ParameterValue {
    ParameterValue::Str(value.to_string())
}

fn from_row(row: &Row) -> Option<Account> {
    let status = match row.get::<String>("status")?.as_str() {
        "ACTIVE" => Status::Active,
        _ => Status::Pending,
    };
    Some(Account {
        id: row.get("id")?,
        email: row.get("email")?,
        company_name: row.get("company_name")?,
        password_hash: row.get("password_hash")?,
        status,
        premium_until: row.get::<Option<i64>>("premium_until")?,
    })
}

async fn one(db: &Db, sql: String, params: Vec<ParameterValue>) -> ApiResult<Option<Account>> {
    let rows = db::rows(db, &sql, params).await?;
    Ok(rows.first().and_then(from_row))
}

/// The account of `email`, whatever its case.
pub async fn by_email(db: &Db, email: &str) -> ApiResult<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM account WHERE lower(email) = lower($1)");
    one(db, sql, vec![text(email)]).await
}

/// The account of company `id`; an id that is not a UUID has none.
pub async fn by_id(db: &Db, id: &str) -> ApiResult<Option<Account>> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    let sql = format!("SELECT {COLUMNS} FROM account WHERE id = $1::uuid");
    one(db, sql, vec![text(id)]).await
}

/// Adds a `PENDING` account; false when the email was taken meanwhile.
pub async fn insert_pending(db: &Db, account: &Account) -> ApiResult<bool> {
    let sql = "INSERT INTO account (id, email, company_name, password_hash, status) \
               VALUES ($1::uuid, $2, $3, $4, 'PENDING') ON CONFLICT DO NOTHING";
    let params = vec![
        text(&account.id),
        text(&account.email),
        text(&account.company_name),
        text(&account.password_hash),
    ];
    Ok(db::execute(db, sql, params).await? == 1)
}

/// Takes the company name of a retried registration into its `PENDING` account.
pub async fn rename_pending(db: &Db, id: &str, company_name: &str) -> ApiResult<()> {
    let sql = "UPDATE account SET company_name = $2, updated_at = now() \
               WHERE id = $1::uuid AND status = 'PENDING'";
    db::execute(db, sql, vec![text(id), text(company_name)]).await?;
    Ok(())
}

/// Completes the registration of company `id`; false when there is no such account.
pub async fn activate(db: &Db, id: &str) -> ApiResult<bool> {
    let sql = "UPDATE account SET status = 'ACTIVE', updated_at = now() WHERE id = $1::uuid";
    Ok(db::execute(db, sql, vec![text(id)]).await? == 1)
}

/// Completes the registration of company `id` if it is still `PENDING`.
pub async fn activate_pending(db: &Db, id: &str) -> ApiResult<()> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(());
    }
    let sql = "UPDATE account SET status = 'ACTIVE', updated_at = now() \
               WHERE id = $1::uuid AND status = 'PENDING'";
    db::execute(db, sql, vec![text(id)]).await?;
    Ok(())
}

/// Removes company `id`'s account if its registration never completed.
pub async fn discard_pending(db: &Db, id: &str) -> ApiResult<()> {
    let sql = "DELETE FROM account WHERE id = $1::uuid AND status = 'PENDING'";
    db::execute(db, sql, vec![text(id)]).await?;
    Ok(())
}
