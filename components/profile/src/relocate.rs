//! Moving a profile and its markers to the shard of a new country, all or nothing.
//!
//! 1. Old shard, transaction A: lock the row and its markers (`FOR UPDATE`) and check the
//!    revision the change was based on; writes to the row now wait for A.
//! 2. New shard, transaction B: insert the row at the next revision with its markers; commit.
//! 3. Transaction A: delete the old row (its markers cascade); commit.
//!
//! A failure before B commits rolls both back: nothing changed. If step 3 fails, B's row is
//! deleted again (compensation) and the old row stays; when A's `COMMIT` fails without saying
//! whether it happened, a fresh read of the old shard decides first. If compensation itself
//! fails, two copies remain and readers take the higher revision, i.e. the moved row, deleting
//! the other on sight (`profile::locate`); so a reader never sees zero rows or two.

use spin_sdk::pg::{Connection, ParameterValue};

use crate::markers::{self, Marker};
use crate::profile::{Located, Profile, fetch};
use crate::shard::{self, DbError, Statement};
use crate::update::SaveError;

/// What the old shard holds of the company, read under lock.
struct Locked {
    created_at: String,
    markers: Vec<Marker>,
}

/// Moves `from`'s row to shard `to` as `wanted` (already at the next revision).
pub async fn relocate(from: &Located, to: u8, wanted: &Profile) -> Result<Profile, SaveError> {
    let limit = shard::timeout().await;
    let old = shard::within(from.shard, limit, shard::connect(from.shard)).await?;
    let new = shard::within(to, limit, shard::connect(to)).await?;
    let base = from.profile.revision;
    let locked = lock_old(&old, &wanted.company_id, base).await?;

    if let Err(error) = shard::transaction(&new, insert_new(wanted, &locked)).await {
        rollback(&old).await;
        return Err(match error {
            DbError::Duplicate => SaveError::Stale,
            other => other.into(),
        });
    }

    match delete_old(&old, &wanted.company_id).await {
        Ok(()) => Ok(wanted.clone()),
        Err(Step::Statement(error)) => compensate(&new, wanted, error).await,
        Err(Step::Commit(error)) => settle(from, &new, wanted, error).await,
    }
}

/// Step 1: opens transaction A on the old shard and locks the row at revision `base`.
async fn lock_old(db: &Connection, company_id: &str, base: i64) -> Result<Locked, SaveError> {
    db.execute("BEGIN", Vec::new()).await?;
    let locked = read_locked(db, company_id, base).await;
    if locked.is_err() {
        rollback(db).await;
    }
    locked
}

async fn read_locked(db: &Connection, company_id: &str, base: i64) -> Result<Locked, SaveError> {
    let sql = "SELECT revision, created_at::text AS created_at FROM company_profile \
        WHERE company_id = $1 FOR UPDATE";
    let rows = db
        .query(sql, vec![shard::uuid(company_id)])
        .await?
        .collect()
        .await?;
    let row = rows.first().ok_or(SaveError::Stale)?;
    if row.get::<i64>("revision") != Some(base) {
        return Err(SaveError::Stale);
    }
    let created_at = row.get::<String>("created_at").unwrap_or_default();
    let lock = "SELECT 1 FROM company_applicant_marker WHERE company_id = $1 FOR UPDATE";
    db.query(lock, vec![shard::uuid(company_id)])
        .await?
        .collect()
        .await?;
    let markers = markers::of_company(db, company_id).await?;
    Ok(Locked {
        created_at,
        markers,
    })
}

/// Step 2: the statements of transaction B. An older copy left in the new shard by an earlier
/// failed move is replaced; a newer one makes the insert fail as a duplicate.
fn insert_new(wanted: &Profile, locked: &Locked) -> Vec<Statement> {
    let id = || shard::uuid(&wanted.company_id);
    let mut statements: Vec<Statement> = vec![
        (
            "DELETE FROM company_profile WHERE company_id = $1 AND revision < $2",
            vec![id(), ParameterValue::Int64(wanted.revision)],
        ),
        (
            "INSERT INTO company_profile (company_id, company_name, email, country, city, \
             address, phone_number, about_us, who_we_are_looking_for, logo_url, premium, \
             revision, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::timestamptz)",
            vec![
                id(),
                wanted.company_name.clone().into(),
                wanted.email.clone().into(),
                wanted.country.clone().into(),
                shard::text(wanted.city.as_deref()),
                shard::text(wanted.address.as_deref()),
                shard::text(wanted.phone_number.as_deref()),
                shard::text(wanted.about_us.as_deref()),
                shard::text(wanted.who_we_are_looking_for.as_deref()),
                shard::text(wanted.logo_url.as_deref()),
                wanted.premium.into(),
                wanted.revision.into(),
                locked.created_at.clone().into(),
            ],
        ),
    ];
    for marker in &locked.markers {
        statements.push((
            "INSERT INTO company_applicant_marker \
             (company_id, applicant_id, marker, created_at, updated_at) \
             VALUES ($1, $2, $3, $4::text::timestamptz, $5::text::timestamptz)",
            vec![
                id(),
                marker.applicant_id.clone().into(),
                marker.marker.clone().into(),
                marker.created_at.clone().into(),
                marker.updated_at.clone().into(),
            ],
        ));
    }
    statements
}

/// Where step 3 failed.
enum Step {
    /// The delete failed, so transaction A did not commit.
    Statement(DbError),
    /// The commit failed: transaction A may or may not have committed.
    Commit(DbError),
}

/// Step 3: deletes the old row and commits transaction A.
async fn delete_old(db: &Connection, company_id: &str) -> Result<(), Step> {
    let sql = "DELETE FROM company_profile WHERE company_id = $1";
    if let Err(error) = db.execute(sql, vec![shard::uuid(company_id)]).await {
        rollback(db).await;
        return Err(Step::Statement(error.into()));
    }
    match db.execute("COMMIT", Vec::new()).await {
        Ok(_) => Ok(()),
        Err(error) => Err(Step::Commit(error.into())),
    }
}

/// Undoes step 2 after step 3 failed with `cause`; the old row stays the profile.
async fn compensate(
    new: &Connection,
    wanted: &Profile,
    cause: DbError,
) -> Result<Profile, SaveError> {
    let sql = "DELETE FROM company_profile WHERE company_id = $1 AND revision = $2";
    let params = vec![shard::uuid(&wanted.company_id), wanted.revision.into()];
    match new.execute(sql, params).await {
        Ok(_) => Err(SaveError::Db(cause)),
        Err(error) => {
            eprintln!(
                "profile move of {} kept in the new shard: {cause}; {error}",
                wanted.company_id
            );
            Ok(wanted.clone())
        }
    }
}

/// After A's `COMMIT` failed: reads the old shard afresh to learn whether the old row is gone.
async fn settle(
    from: &Located,
    new: &Connection,
    wanted: &Profile,
    cause: DbError,
) -> Result<Profile, SaveError> {
    let limit = shard::timeout().await;
    let look = async {
        let db = shard::connect(from.shard).await?;
        fetch(&db, &wanted.company_id).await
    };
    match shard::within(from.shard, limit, look).await {
        Ok(Some(old)) if old.revision == from.profile.revision => {
            compensate(new, wanted, cause).await
        }
        Ok(_) => Ok(wanted.clone()),
        Err(error) => {
            eprintln!(
                "profile move of {} unconfirmed, the moved row wins: {error}",
                wanted.company_id
            );
            Ok(wanted.clone())
        }
    }
}

/// Ends an open transaction, ignoring errors: a broken session is discarded anyway.
async fn rollback(db: &Connection) {
    let _ = db.execute("ROLLBACK", Vec::new()).await;
}
