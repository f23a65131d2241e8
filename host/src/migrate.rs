//! Database migrations: `migrations/<database>/NNNN_name.sql`, applied by `jm up` before
//! serving. Each database is created when missing; sqlx records what was applied.
//!
//! A development manifest may name a seed folder (`<seed>/<database>/*.sql`): its files run
//! after the migrations at every start, each in one transaction, so they must be idempotent
//! (`ON CONFLICT DO NOTHING`).

use std::path::Path;

use anyhow::{Context as _, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

/// Applies every folder of migrations under `dir` to its database on the server `server_url`,
/// then loads the folders of `seed`, when given.
pub async fn run(dir: &Path, seed: Option<&Path>, server_url: &str) -> Result<()> {
    let server: PgConnectOptions = server_url
        .parse()
        .with_context(|| format!("bad Postgres url `{server_url}`"))?;
    for database in folders(dir)? {
        migrate_one(&server, &dir.join(&database), &database).await?;
    }
    if let Some(seed) = seed {
        for database in folders(seed)? {
            seed_one(&server, &seed.join(&database), &database).await?;
        }
    }
    Ok(())
}

/// The names of the folders in `dir`, sorted; none when `dir` does not exist.
fn folders(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("failed to read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Runs the `.sql` files of `dir` in name order, each in a transaction of its own.
async fn seed_one(server: &PgConnectOptions, dir: &Path, database: &str) -> Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("failed to read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    create_database(server, database).await?;
    let mut conn = server
        .clone()
        .database(database)
        .connect()
        .await
        .with_context(|| format!("failed to connect to database `{database}`"))?;
    for file in &files {
        let sql = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read {}", file.display()))?;
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(&sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("failed to load seed {}", file.display()))?;
        tx.commit().await?;
    }
    conn.close().await?;
    eprintln!("Seeded {database}: {} files", files.len());
    tracing::info!(database, files = files.len(), "database seeded");
    Ok(())
}

async fn migrate_one(server: &PgConnectOptions, dir: &Path, database: &str) -> Result<()> {
    create_database(server, database).await?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(server.clone().database(database))
        .await
        .with_context(|| format!("failed to connect to database `{database}`"))?;
    let migrator = sqlx::migrate::Migrator::new(dir)
        .await
        .with_context(|| format!("failed to read migrations in {}", dir.display()))?;
    let before = applied(&pool).await;
    migrator
        .run(&pool)
        .await
        .with_context(|| format!("failed to migrate database `{database}`"))?;
    let after = applied(&pool).await;
    eprintln!(
        "Migrated {database}: {} applied, {} new",
        after,
        after - before
    );
    tracing::info!(
        database,
        applied = after,
        new = after - before,
        "database migrated"
    );
    pool.close().await;
    Ok(())
}

async fn applied(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

async fn create_database(server: &PgConnectOptions, database: &str) -> Result<()> {
    let mut conn = server
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("failed to connect to the Postgres server")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = database.replace('"', "\"\"");
        let created = sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut conn)
            .await;
        // Another host may have created it in the meantime: `42P04` (duplicate database) or,
        // when both raced inside the catalog, `23505` (unique violation). Either is fine.
        let code = created
            .as_ref()
            .err()
            .and_then(|e| Some(e.as_database_error()?.code()?.into_owned()));
        if let Err(error) = created
            && !matches!(code.as_deref(), Some("42P04" | "23505"))
        {
            return Err(error).with_context(|| format!("failed to create database `{database}`"));
        }
        eprintln!("Created database {database}");
    }
    conn.close().await?;
    Ok(())
}
