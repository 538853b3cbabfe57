//! A newcomer seeds the demo city and tries the main story with the printed accounts; an admin
//! imports a grid file from the command line.

use casegrid_tests::{App, TempDir, cli, plugin};
use serde_json::json;

#[tokio::test]
async fn the_demo_city_is_seeded_once_and_a_report_reaches_the_district_team() {
    let data = TempDir::new("demo");
    let (code, out, err) = cli(&data, &["demo", "seed"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("20 grid cells") && out.contains("Open311 api_key"), "{out}");
    let password = |login: &str| -> String {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{login} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("{login} in {out}"))
            .to_string()
    };
    let officer_pw = password("housing-w-officer1");
    let (code, again, _) = cli(&data, &["demo", "seed"]);
    assert_eq!(code, 0);
    assert!(again.contains("exist already") && !again.contains("api_key"), "{again}");

    let plugins = TempDir::new("demo-plugins");
    std::fs::copy(plugin("housing"), plugins.0.join("housing.wasm")).unwrap();
    let app = App::start_on(casegrid_tests::test_settings(&data.0, &plugins.0)).await;
    // West district, first row: cell G11.
    let (s, r) = app
        .anon()
        .post(
            "/api/v1/reports",
            json!({"description": "楼顶违章搭建彩钢房", "location": {"lat": 30.245, "lon": 120.135}}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["team"], "西城住建中队");
    let officer = app.sign_in("housing-w-officer1", &officer_pw).await;
    let (_, list) = officer.get("/api/v1/reports").await;
    assert_eq!(list["reports"][0]["id"], r["id"]);
    let (_, me) = officer.get("/api/v1/auth/me").await;
    assert_eq!(me["user"]["certifications"][0]["domain"], "housing");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_imports_a_grid_file_from_the_command_line() {
    let data = TempDir::new("grid-cli");
    let org = data.0.join("org.toml");
    std::fs::write(&org, "[[departments]]\ncode = \"D1\"\nname = \"住建\"\n\n[[teams]]\ncode = \"T1\"\nname = \"一中队\"\ndepartment = \"D1\"\ndomains = [\"housing\"]\n").unwrap();
    assert_eq!(cli(&data, &["org", "import", org.to_str().unwrap()]).0, 0);
    let file = data.0.join("grid.geojson");
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T1"}, "features": [
        {"type": "Feature", "properties": {"code": "C1", "name": "一", "coverage": {"housing": "T1"}},
         "geometry": {"type": "Polygon", "coordinates": [[[120.0, 30.0], [120.1, 30.0], [120.1, 30.1], [120.0, 30.1], [120.0, 30.0]]]}}]});
    std::fs::write(&file, grid.to_string()).unwrap();
    let (code, out, err) = cli(&data, &["grid", "import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cells: 1 created") && out.contains("1 fallback teams"), "{out}");
    let bad = data.0.join("bad.geojson");
    let mut broken = grid.clone();
    broken["features"][0]["properties"]["coverage"]["housing"] = json!("T-NOPE");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let (code, _, err) = cli(&data, &["grid", "import", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("features[0].properties.coverage.housing") && err.contains("T-NOPE"), "{err}");
}
