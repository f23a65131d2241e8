//! `GET /api/profile?name=&country=&limit=&offset=`: profiles by name and country across the
//! shards (SPEC 6.4). Each shard asked answers, within the deadline, its first `offset + limit`
//! matches in name order and its count; the page is cut from the merged rows here. Every shard
//! answers: 200; some: 206 `PARTIAL_CONTENT` with the rows and `missingShards`; none: 503.
//! A country filter asks only that country's shard.

use std::collections::HashMap;

use jm_service::validate::Validator;
use jm_service::{ApiError, ApiResult, Reply, query_param};
use serde_json::json;
use spin_sdk::http::Request;
use spin_sdk::pg::ParameterValue;

use crate::country::{self, Country};
use crate::profile::{COLUMNS, Profile};
use crate::shard::{self, DbError, RETRY_AFTER};

/// Rows per page when the client does not say.
const DEFAULT_LIMIT: i64 = 20;
/// The most rows a page may have.
const MAX_LIMIT: i64 = 100;
/// The deepest a page may start.
const MAX_OFFSET: i64 = 10_000;

/// A validated search.
struct Search {
    name: String,
    country: Option<Country>,
    limit: i64,
    offset: i64,
}

/// A number query parameter within `range`, or `default` when absent.
fn number(
    req: &Request,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    v: &mut Validator,
) -> i64 {
    let Some(text) = query_param(req, name).filter(|t| !t.is_empty()) else {
        return default;
    };
    let value = text
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n));
    let message = format!(
        "must be a whole number from {} to {}",
        range.start(),
        range.end()
    );
    v.check(value.is_some(), name, &message);
    value.unwrap_or(default)
}

fn parse(req: &Request) -> ApiResult<Search> {
    let mut v = Validator::new();
    let name = query_param(req, "name")
        .unwrap_or_default()
        .trim()
        .to_string();
    v.check(
        name.chars().count() <= 200,
        "name",
        "must be at most 200 characters",
    );
    let country = query_param(req, "country").filter(|c| !c.trim().is_empty());
    let found = country.as_deref().and_then(country::find);
    v.check(
        country.is_none() || found.is_some(),
        "country",
        "is not a known country",
    );
    let limit = number(req, "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT, &mut v);
    let offset = number(req, "offset", 0, 0..=MAX_OFFSET, &mut v);
    v.finish()?;
    Ok(Search {
        name,
        country: found,
        limit,
        offset,
    })
}

/// One matching row with the key it is ordered by.
struct Hit {
    sort_key: String,
    profile: Profile,
}

/// What one shard answered.
struct ShardPage {
    hits: Vec<Hit>,
    total: i64,
}

async fn ask(shard: u8, search: &Search) -> Result<ShardPage, DbError> {
    let db = shard::connect(shard).await?;
    let sql = format!(
        "SELECT {COLUMNS}, lower(company_name) AS sort_key, count(*) OVER () AS total \
         FROM company_profile \
         WHERE strpos(lower(company_name), lower($1)) > 0 AND ($2 = '' OR country = $2) \
         ORDER BY lower(company_name) COLLATE \"C\", company_id LIMIT $3"
    );
    let country = search.country.map_or("", |c| c.code).to_string();
    let params = vec![
        ParameterValue::Str(search.name.clone()),
        ParameterValue::Str(country),
        ParameterValue::Int64(search.offset + search.limit),
    ];
    let rows = db.query(sql, params).await?.collect().await?;
    let total = rows
        .first()
        .and_then(|r| r.get::<i64>("total"))
        .unwrap_or(0);
    let hits = rows
        .iter()
        .map(|row| {
            let sort_key = row.get::<String>("sort_key").unwrap_or_default();
            Profile::from_row(row).map(|profile| Hit { sort_key, profile })
        })
        .collect::<Result<_, _>>()?;
    Ok(ShardPage { hits, total })
}

/// Merges the shards' pages: one row per company (the newest copy), in name order.
fn merge(pages: Vec<ShardPage>) -> (Vec<Hit>, i64) {
    let mut total: i64 = pages.iter().map(|p| p.total).sum();
    let mut newest: HashMap<String, Hit> = HashMap::new();
    for hit in pages.into_iter().flat_map(|p| p.hits) {
        let id = hit.profile.company_id.clone();
        match newest.get(&id) {
            Some(kept) => {
                total -= 1;
                if kept.profile.revision < hit.profile.revision {
                    newest.insert(id, hit);
                }
            }
            None => {
                newest.insert(id, hit);
            }
        }
    }
    let mut hits: Vec<Hit> = newest.into_values().collect();
    hits.sort_by(|a, b| {
        (a.sort_key.as_bytes(), &a.profile.company_id)
            .cmp(&(b.sort_key.as_bytes(), &b.profile.company_id))
    });
    (hits, total.max(0))
}

/// `GET /api/profile?...`.
pub async fn search(req: &Request) -> ApiResult {
    let search = parse(req)?;
    let shards: Vec<u8> = match search.country {
        Some(country) => vec![country.shard],
        None => shard::ALL.to_vec(),
    };
    let answers = shard::each(&shards, |n| ask(n, &search)).await;
    let mut pages = Vec::new();
    let mut missing = Vec::new();
    for (n, answer) in answers {
        match answer {
            Ok(page) => pages.push(page),
            Err(error) => {
                eprintln!("profile search in shard {n} failed: {error}");
                missing.push(n);
            }
        }
    }
    if pages.is_empty() {
        return Err(ApiError::unavailable(
            "no profile shard answered",
            RETRY_AFTER,
        ));
    }
    let (hits, total) = merge(pages);
    let offset = usize::try_from(search.offset).unwrap_or(0);
    let limit = usize::try_from(search.limit).unwrap_or(0);
    let items: Vec<Profile> = hits
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|h| h.profile)
        .collect();
    if missing.is_empty() {
        return Ok(Reply::json(200, &json!({ "items": items, "total": total })));
    }
    let extra = json!({ "items": items, "total": total, "missingShards": missing });
    Err(
        ApiError::other(206, "PARTIAL_CONTENT", "some profile shards did not answer")
            .with_extra(extra),
    )
}
