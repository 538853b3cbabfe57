//! `casegrid demo seed`: a demo city to try every story on — a command centre, a department per
//! domain with a team in each of two districts, a 5 × 4 grid over the city centre with both
//! districts' teams covering their cells, fallback teams, and an account for every role, with
//! passwords printed once. Seeding again changes nothing already there.

use crate::admin::ops::{self, DepartmentIn, OrgDoc, RoleIn, TeamIn, UserIn};
use crate::auth::secrets;
use crate::auth::store::{self, Actor};
use crate::store::{Db, StoreError};
use serde_json::{Value, json};

/// The eight domains: code, short code, department, short name.
const DOMAINS: [(&str, &str, &str, &str); 8] = [
    ("housing", "ZJ", "住房建设执法支队", "住建"),
    ("transport", "JT", "交通运输执法支队", "交通"),
    ("ecology", "ST", "生态环境执法支队", "生态"),
    ("natural-resources", "ZR", "自然资源执法支队", "自然资源"),
    ("culture-tourism", "WL", "文化旅游执法支队", "文旅"),
    ("labour", "LD", "劳动保障监察支队", "劳动监察"),
    ("industry-energy", "GN", "工业能源执法支队", "工业能源"),
    ("commerce", "SW", "商务执法支队", "商务"),
];

const DISTRICTS: [(&str, &str); 2] = [("E", "东城"), ("W", "西城")];

/// The centre of the demo city (WGS84) and the cell size in degrees.
const ORIGIN: (f64, f64) = (30.24, 120.13);
const CELL: f64 = 0.01;

fn short(domain: &str) -> &'static str {
    DOMAINS.iter().find(|d| d.0 == domain).map_or("XX", |d| d.1)
}

fn team_code(domain: &str, district: &str) -> String {
    format!("{}-{district}", short(domain))
}

pub fn org() -> OrgDoc {
    let role = |r: &str, team: Option<String>, department: Option<String>, domain: Option<String>| RoleIn {
        role: r.into(),
        team,
        department,
        domain,
    };
    let person = |login: &str, name: &str, roles: Vec<RoleIn>, certs: Vec<ops::CertIn>| UserIn {
        login: login.into(),
        display_name: name.into(),
        email: None,
        phone: None,
        roles,
        certifications: certs,
    };
    let mut doc = OrgDoc {
        departments: vec![DepartmentIn { code: "CC".into(), name: "指挥中心".into() }],
        ..Default::default()
    };
    doc.members.push(person("dispatcher", "指挥中心值班员", vec![role("dispatcher", None, None, None)], vec![]));
    doc.members.push(person("legal", "法制审核员", vec![role("legal-reviewer", None, None, None)], vec![]));
    doc.members.push(person("leader", "局领导", vec![role("leader", None, None, None)], vec![]));
    for (domain, code, dept, stem) in DOMAINS {
        let dcode = format!("D-{code}");
        doc.departments.push(DepartmentIn { code: dcode.clone(), name: dept.into() });
        for (district, dname) in DISTRICTS {
            let tcode = team_code(domain, district);
            doc.teams.push(TeamIn {
                code: tcode.clone(),
                name: format!("{dname}{stem}中队"),
                department: dcode.clone(),
                domains: vec![domain.into()],
            });
            let lower = district.to_lowercase();
            for n in 1..=2 {
                let cert = ops::CertIn {
                    domain: domain.into(),
                    number: format!("ZF-{code}-{district}-0{n}"),
                    valid_until: "2028-12-31".into(),
                };
                let roles = vec![role("officer", Some(tcode.clone()), None, None)];
                doc.members.push(person(
                    &format!("{domain}-{lower}-officer{n}"),
                    &format!("{dname}{stem}执法队员{n}"),
                    roles,
                    vec![cert],
                ));
            }
            doc.members.push(person(
                &format!("{domain}-{lower}-lead"),
                &format!("{dname}{stem}中队长"),
                vec![role("team-lead", Some(tcode), None, None)],
                vec![],
            ));
        }
        doc.members.push(person(
            &format!("{domain}-publisher"),
            &format!("{stem}规则发布员"),
            vec![role("publisher", None, None, Some(domain.into()))],
            vec![],
        ));
    }
    doc
}

/// A 5 × 4 grid: the western two columns are the West district, the rest the East.
pub fn grid() -> Value {
    let mut features = Vec::new();
    for row in 0..4 {
        for col in 0..5 {
            let (lat, lon) = (ORIGIN.0 + f64::from(row) * CELL, ORIGIN.1 + f64::from(col) * CELL);
            let district = if col < 2 { "W" } else { "E" };
            let coverage: serde_json::Map<String, Value> =
                DOMAINS.iter().map(|d| (d.0.to_string(), json!(team_code(d.0, district)))).collect();
            features.push(json!({"type": "Feature",
                "properties": {"code": format!("G{}{}", row + 1, col + 1), "name": format!("{}第{}网格", if col < 2 { "西城" } else { "东城" }, row * 5 + col + 1), "coverage": coverage},
                "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + CELL, lat], [lon + CELL, lat + CELL], [lon, lat + CELL], [lon, lat]]]}}));
        }
    }
    let fallback: serde_json::Map<String, Value> =
        DOMAINS.iter().map(|d| (d.0.to_string(), json!(team_code(d.0, "E")))).collect();
    json!({"type": "FeatureCollection", "fallback": fallback, "features": features})
}

/// Seeds the demo city; returns the new accounts with their passwords and an Open311 key.
pub async fn seed(db: &Db) -> anyhow::Result<(Vec<(String, String)>, Option<String>)> {
    let actor = Actor::cli();
    let fail = |e: crate::api_error::ApiError| anyhow::anyhow!("{} ({})", e.message, e.field.unwrap_or_default());
    let summary = ops::import_org(db, &actor, &org()).await.map_err(fail)?;
    crate::dispatch::import_grid(db, &actor, &grid()).await.map_err(fail)?;
    // Demo accounts get passwords to use at once, not one-time ones.
    let mut accounts = Vec::new();
    for c in summary.members_created {
        let password = secrets::one_time_password();
        let hash = {
            let p = password.clone();
            tokio::task::spawn_blocking(move || secrets::hash_password(&p)).await?
        };
        let mut tx = db.write().await?;
        store::set_password(&mut tx, c.id, &hash, false).await?;
        tx.commit().await.map_err(StoreError::from)?;
        accounts.push((c.login, password));
    }
    let mut key = None;
    let mut c = db.pool().acquire().await?;
    if store::open311_keys(&mut c).await?.iter().all(|k| k.client != "demo app") {
        let k = secrets::new_token("cgk_");
        let mut tx = db.write().await?;
        store::insert_open311_key(&mut tx, "demo app", &secrets::token_hash(&k), &k[..10], None, "public").await?;
        store::record(&mut tx, "open311-key-created", &actor, None, json!({"client": "demo app"})).await?;
        tx.commit().await.map_err(StoreError::from)?;
        key = Some(k);
    }
    Ok((accounts, key))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_city_has_every_domain_in_every_cell() {
        let g = super::grid();
        let cells = g["features"].as_array().unwrap();
        assert_eq!(cells.len(), 20);
        assert!(cells.iter().all(|c| c["properties"]["coverage"].as_object().unwrap().len() == 8));
        let o = super::org();
        assert_eq!(o.teams.len(), 16);
        assert_eq!(super::team_code("natural-resources", "E"), "ZR-E");
        assert_eq!(o.members.len(), 3 + 8 * (2 * 3 + 1));
    }
}
