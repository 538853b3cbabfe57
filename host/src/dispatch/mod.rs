//! Dispatch by place and domain ("one network"): the grid of cells, which team covers which
//! domains in each, the fallback team per domain, and the decision for a report.

pub mod geo;

use crate::api_error::ApiError;
use crate::auth::store::{self as auth_store, Actor, Conn};
use crate::store::{Db, StoreError, now_ms};
use axum::http::StatusCode;
use geo::{Area, GeoPoint};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;

fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).field(field)
}

#[derive(Debug, Default, Serialize)]
pub struct GridSummary {
    pub cells_created: usize,
    pub cells_updated: usize,
    pub coverage: usize,
    pub fallbacks: usize,
}

/// Imports a GeoJSON FeatureCollection of grid cells. Each feature's properties carry `code`,
/// `name` and `coverage` (`{"housing": "TEAM-CODE", …}`); a foreign member `fallback`
/// (`{"housing": "TEAM-CODE"}`) names the team acting where no cell covers a point. Cells are
/// matched by code; a cell's coverage is replaced by the file's. All or nothing.
pub async fn import_grid(db: &Db, actor: &Actor, doc: &Value) -> Result<GridSummary, ApiError> {
    if doc.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(invalid("type", "not-a-feature-collection", "the grid is a GeoJSON FeatureCollection"));
    }
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("features", "required", "a list of features"))?;
    let mut s = GridSummary::default();
    let mut tx = db.write().await?;
    let org = auth_store::org_index(&mut tx).await?;
    for (i, f) in features.iter().enumerate() {
        import_cell(&mut tx, &org, &format!("features[{i}]"), f, &mut s).await?;
    }
    if let Some(fb) = doc.get("fallback") {
        import_fallbacks(&mut tx, &org, fb, &mut s).await?;
    }
    auth_store::record(&mut tx, "grid-imported", actor, None, json!(s)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(s)
}

/// The team with `code` (422 `unknown-team` naming `field`).
fn team_of(org: &auth_store::OrgIndex, code: &str, field: String) -> Result<i64, ApiError> {
    org.team_by_code(code).map(|t| t.id).ok_or_else(|| invalid(field, "unknown-team", format!("no team `{code}`")))
}

/// One feature of the file (`at`, as errors name it): its cell and the cell's coverage.
async fn import_cell(
    c: &mut Conn,
    org: &auth_store::OrgIndex,
    at: &str,
    f: &Value,
    s: &mut GridSummary,
) -> Result<(), ApiError> {
    let props = f
        .get("properties")
        .ok_or_else(|| invalid(format!("{at}.properties"), "required", "properties with code and name"))?;
    let code = props.get("code").and_then(Value::as_str).filter(|c| (1..=32).contains(&c.len()));
    let code =
        code.ok_or_else(|| invalid(format!("{at}.properties.code"), "required", "a code of 1 to 32 characters"))?;
    let name = props.get("name").and_then(Value::as_str).unwrap_or(code);
    let geometry =
        f.get("geometry").ok_or_else(|| invalid(format!("{at}.geometry"), "required", "a Polygon or MultiPolygon"))?;
    let area = Area::from_geojson(geometry).map_err(|e| invalid(format!("{at}.geometry"), "invalid-geometry", e))?;
    let id = upsert_cell(c, code, name, geometry, area.bbox(), s).await?;
    let Some(cov) = props.get("coverage") else { return Ok(()) };
    let cov = cov
        .as_object()
        .ok_or_else(|| invalid(format!("{at}.properties.coverage"), "invalid", "{\"domain\": \"TEAM-CODE\"}"))?;
    for (domain, t) in cov {
        let field = format!("{at}.properties.coverage.{domain}");
        crate::admin::ops::check_domain_code(domain, &field)?;
        let t = t.as_str().ok_or_else(|| invalid(field.clone(), "invalid", "a team code"))?;
        let team_id = team_of(org, t, field)?;
        sqlx::query("INSERT INTO coverage (cell_id, domain, team_id) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(domain)
            .bind(team_id)
            .execute(&mut *c)
            .await
            .map_err(StoreError::from)?;
        s.coverage += 1;
    }
    Ok(())
}

/// The cell with `code`, updated (its coverage cleared, for the file's) or created; its id.
async fn upsert_cell(
    c: &mut Conn,
    code: &str,
    name: &str,
    geometry: &Value,
    (a, b, cc, d): (f64, f64, f64, f64),
    s: &mut GridSummary,
) -> Result<i64, ApiError> {
    let existing = sqlx::query("SELECT id FROM grid_cells WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::from)?;
    if let Some(r) = existing {
        let id: i64 = r.get(0);
        sqlx::query("UPDATE grid_cells SET name = $1, geometry = $2, min_lat = $3, min_lon = $4, max_lat = $5, max_lon = $6 WHERE id = $7")
            .bind(name)
            .bind(geometry.to_string())
            .bind(a)
            .bind(b)
            .bind(cc)
            .bind(d)
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(StoreError::from)?;
        sqlx::query("DELETE FROM coverage WHERE cell_id = $1")
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(StoreError::from)?;
        s.cells_updated += 1;
        return Ok(id);
    }
    s.cells_created += 1;
    Ok(sqlx::query(
        "INSERT INTO grid_cells (code, name, geometry, min_lat, min_lon, max_lat, max_lon, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(code)
    .bind(name)
    .bind(geometry.to_string())
    .bind(a)
    .bind(b)
    .bind(cc)
    .bind(d)
    .bind(now_ms())
    .fetch_one(&mut *c)
    .await
    .map_err(|e| StoreError::unique(e, format!("grid cell {code}")))?
    .get(0))
}

/// The file's `fallback` member: the team per domain where no cell covers a point.
async fn import_fallbacks(
    c: &mut Conn,
    org: &auth_store::OrgIndex,
    fb: &Value,
    s: &mut GridSummary,
) -> Result<(), ApiError> {
    let fb = fb.as_object().ok_or_else(|| invalid("fallback", "invalid", "{\"domain\": \"TEAM-CODE\"}"))?;
    for (domain, t) in fb {
        let field = format!("fallback.{domain}");
        crate::admin::ops::check_domain_code(domain, &field)?;
        let team_id = team_of(org, t.as_str().unwrap_or_default(), field)?;
        sqlx::query("INSERT INTO fallback_teams (domain, team_id) VALUES ($1, $2) ON CONFLICT (domain) DO UPDATE SET team_id = excluded.team_id")
            .bind(domain)
            .bind(team_id)
            .execute(&mut *c)
            .await
            .map_err(StoreError::from)?;
        s.fallbacks += 1;
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub id: i64,
    pub code: String,
    pub name: String,
}

/// The cell holding `p` (where cells overlap, the smallest, the most specific) and the team (id,
/// name) covering `domain` there, if any: one query.
async fn locate_for(
    c: &mut Conn,
    p: GeoPoint,
    domain: &str,
) -> Result<Option<(Cell, Option<(i64, String)>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT g.id, g.code, g.name, g.geometry, v.team_id, t.name FROM grid_cells g \
         LEFT JOIN coverage v ON v.cell_id = g.id AND v.domain = $3 LEFT JOIN teams t ON t.id = v.team_id \
         WHERE g.min_lat <= $1 AND g.max_lat >= $1 AND g.min_lon <= $2 AND g.max_lon >= $2 \
         ORDER BY (g.max_lat - g.min_lat) * (g.max_lon - g.min_lon), g.code",
    )
    .bind(p.lat)
    .bind(p.lon)
    .bind(domain)
    .fetch_all(&mut *c)
    .await?;
    for r in rows {
        let g: Value = serde_json::from_str(&r.get::<String, _>(3)).unwrap_or(Value::Null);
        if Area::from_geojson(&g).is_ok_and(|a| a.contains(p)) {
            let team = r.get::<Option<i64>, _>(4).zip(r.get::<Option<String>, _>(5));
            return Ok(Some((Cell { id: r.get(0), code: r.get(1), name: r.get(2) }, team)));
        }
    }
    Ok(None)
}

/// The cell holding `p`.
pub async fn locate(c: &mut Conn, p: GeoPoint) -> Result<Option<Cell>, StoreError> {
    Ok(locate_for(c, p, "").await?.map(|x| x.0))
}

/// Who acts on a report, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Assignment {
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub cell: Option<Cell>,
    pub reason: String,
}

/// The team covering (cell, domain); else the domain's fallback team; else nobody (triage).
pub async fn assign(c: &mut Conn, domain: &str, at: Option<GeoPoint>) -> Result<Assignment, StoreError> {
    let (cell, team) = match at {
        Some(p) => locate_for(c, p, domain).await?.map_or((None, None), |(c, t)| (Some(c), t)),
        None => (None, None),
    };
    if let (Some(cell), Some((id, name))) = (&cell, team) {
        let reason = format!("grid cell {} is covered for {domain}", cell.code);
        return Ok(Assignment { team_id: Some(id), team_name: Some(name), cell: Some(cell.clone()), reason });
    }
    let fallback = sqlx::query(
        "SELECT f.team_id, t.name FROM fallback_teams f JOIN teams t ON t.id = f.team_id WHERE f.domain = $1",
    )
    .bind(domain)
    .fetch_optional(&mut *c)
    .await?;
    let place = match (&cell, at) {
        (Some(cell), _) => format!("grid cell {} has no team for {domain}", cell.code),
        (None, Some(_)) => "no grid cell covers the point".to_string(),
        (None, None) => "the report has no position".to_string(),
    };
    Ok(match fallback {
        Some(t) => Assignment {
            team_id: Some(t.get(0)),
            team_name: Some(t.get(1)),
            cell,
            reason: format!("{place}: the fallback team for {domain}"),
        },
        None => Assignment {
            team_id: None,
            team_name: None,
            cell,
            reason: format!("{place}, and {domain} has no fallback team: triage"),
        },
    })
}

/// The grid as GeoJSON, with each cell's coverage by team code.
pub async fn grid_geojson(c: &mut Conn) -> Result<Value, StoreError> {
    let org = auth_store::org_index(c).await?;
    let code_of = |id: i64| org.team(id).map(|t| t.code.clone()).unwrap_or_default();
    let mut coverage: BTreeMap<i64, serde_json::Map<String, Value>> = BTreeMap::new();
    for r in sqlx::query("SELECT cell_id, domain, team_id FROM coverage").fetch_all(&mut *c).await? {
        coverage.entry(r.get(0)).or_default().insert(r.get(1), json!(code_of(r.get(2))));
    }
    let features: Vec<Value> = sqlx::query("SELECT id, code, name, geometry FROM grid_cells ORDER BY code")
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            json!({"type": "Feature", "properties": {"code": r.get::<String, _>(1), "name": r.get::<String, _>(2),
                   "coverage": coverage.remove(&id).unwrap_or_default()},
                   "geometry": serde_json::from_str::<Value>(&r.get::<String, _>(3)).unwrap_or(Value::Null)})
        })
        .collect();
    let mut fallback = serde_json::Map::new();
    for r in sqlx::query("SELECT domain, team_id FROM fallback_teams ORDER BY domain").fetch_all(&mut *c).await? {
        fallback.insert(r.get(0), json!(code_of(r.get(1))));
    }
    Ok(json!({"type": "FeatureCollection", "fallback": fallback, "features": features}))
}
