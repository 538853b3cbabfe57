//! WGS84 geometry for the grid: GeoJSON polygons (with holes) and multipolygons, the cell a point
//! falls in, and distances between points.

use serde_json::Value;

/// A point, latitude and longitude in degrees. Valid only inside the WGS84 ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Option<GeoPoint> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) && lat.is_finite() && lon.is_finite())
            .then_some(GeoPoint { lat, lon })
    }

    /// Great-circle distance in metres (haversine, mean Earth radius).
    pub fn distance_m(self, o: GeoPoint) -> f64 {
        let (la1, la2) = (self.lat.to_radians(), o.lat.to_radians());
        let (dla, dlo) = ((o.lat - self.lat).to_radians(), (o.lon - self.lon).to_radians());
        let a = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * 6_371_008.8 * a.sqrt().asin()
    }

    /// The box around the point holding everything within `m` metres (for an index pre-filter).
    pub fn bbox_m(self, m: f64) -> (f64, f64, f64, f64) {
        let dlat = m / 111_320.0;
        let dlon = m / (111_320.0 * self.lat.to_radians().cos().max(0.01));
        (self.lat - dlat, self.lon - dlon, self.lat + dlat, self.lon + dlon)
    }
}

/// Rings of [lon, lat] positions: the first is the outer boundary, the rest holes.
type Polygon = Vec<Vec<(f64, f64)>>;

#[derive(Clone, Debug, PartialEq)]
pub struct Area {
    polygons: Vec<Polygon>,
}

impl Area {
    /// Reads a GeoJSON `Polygon` or `MultiPolygon` geometry; `Err` says what is wrong.
    pub fn from_geojson(g: &Value) -> Result<Area, String> {
        let coords = g.get("coordinates").ok_or("the geometry has no coordinates")?;
        let polygons = match g.get("type").and_then(Value::as_str) {
            Some("Polygon") => vec![polygon(coords)?],
            Some("MultiPolygon") => coords
                .as_array()
                .ok_or("MultiPolygon coordinates are not a list")?
                .iter()
                .map(polygon)
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("a grid cell is a Polygon or MultiPolygon, not {other}")),
            None => return Err("the geometry has no type".into()),
        };
        if polygons.is_empty() {
            return Err("the geometry has no polygon".into());
        }
        Ok(Area { polygons })
    }

    pub fn contains(&self, p: GeoPoint) -> bool {
        self.polygons.iter().any(|rings| {
            let mut rs = rings.iter();
            rs.next().is_some_and(|outer| in_ring(outer, p)) && !rs.any(|hole| in_ring(hole, p))
        })
    }

    /// (min_lat, min_lon, max_lat, max_lon)
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        let mut b = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (lon, lat) in self.polygons.iter().filter_map(|p| p.first()).flatten() {
            b = (b.0.min(*lat), b.1.min(*lon), b.2.max(*lat), b.3.max(*lon));
        }
        b
    }
}

fn polygon(v: &Value) -> Result<Polygon, String> {
    let rings = v.as_array().ok_or("polygon coordinates are not a list of rings")?;
    if rings.is_empty() {
        return Err("a polygon needs an outer ring".into());
    }
    rings
        .iter()
        .map(|ring| {
            let pts: Vec<(f64, f64)> = ring
                .as_array()
                .ok_or("a ring is not a list of positions")?
                .iter()
                .map(|pos| {
                    let lon = pos.get(0).and_then(Value::as_f64).ok_or("a position is not [lon, lat]")?;
                    let lat = pos.get(1).and_then(Value::as_f64).ok_or("a position is not [lon, lat]")?;
                    GeoPoint::new(lat, lon)
                        .map(|_| (lon, lat))
                        .ok_or_else(|| format!("[{lon}, {lat}] is outside WGS84"))
                })
                .collect::<Result<_, String>>()?;
            // GeoJSON rings are closed: at least four positions, the last repeating the first.
            if pts.len() < 4 || pts.first() != pts.last() {
                return Err("a ring needs at least four positions, the last equal to the first".to_string());
            }
            Ok(pts)
        })
        .collect()
}

/// Even-odd ray casting on [lon, lat] positions (cells are small: planar is exact enough).
fn in_ring(ring: &[(f64, f64)], p: GeoPoint) -> bool {
    let (x, y) = (p.lon, p.lat);
    let mut inside = false;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let ((xi, yi), (xj, yj)) = (ring[i], ring[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_point_is_inside_a_polygon_but_not_in_its_hole() {
        let square = json!({"type": "Polygon", "coordinates": [
            [[120.0, 30.0], [120.1, 30.0], [120.1, 30.1], [120.0, 30.1], [120.0, 30.0]],
            [[120.04, 30.04], [120.06, 30.04], [120.06, 30.06], [120.04, 30.06], [120.04, 30.04]]
        ]});
        let a = Area::from_geojson(&square).unwrap();
        assert!(a.contains(GeoPoint::new(30.02, 120.02).unwrap()));
        assert!(!a.contains(GeoPoint::new(30.05, 120.05).unwrap()), "in the hole");
        assert!(!a.contains(GeoPoint::new(30.2, 120.05).unwrap()));
        assert_eq!(a.bbox(), (30.0, 120.0, 30.1, 120.1));
        let multi = json!({"type": "MultiPolygon", "coordinates": [square["coordinates"].clone(),
            [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.0]]]]});
        assert!(Area::from_geojson(&multi).unwrap().contains(GeoPoint::new(31.01, 121.05).unwrap()));
    }

    #[test]
    fn bad_geometry_is_refused_with_the_reason() {
        let open = json!({"type": "Polygon", "coordinates": [[[120.0, 30.0], [120.1, 30.0], [120.1, 30.1]]]});
        assert!(Area::from_geojson(&open).unwrap_err().contains("four positions"));
        assert!(
            Area::from_geojson(&json!({"type": "Point", "coordinates": [1, 2]})).unwrap_err().contains("not Point")
        );
        let far =
            json!({"type": "Polygon", "coordinates": [[[200.0, 30.0], [120.1, 30.0], [120.1, 30.1], [200.0, 30.0]]]});
        assert!(Area::from_geojson(&far).unwrap_err().contains("outside WGS84"));
    }

    #[test]
    fn distances_are_in_metres() {
        let a = GeoPoint::new(30.0, 120.0).unwrap();
        let b = GeoPoint::new(30.001, 120.0).unwrap();
        assert!((a.distance_m(b) - 111.2).abs() < 0.5, "{}", a.distance_m(b));
        assert!(GeoPoint::new(91.0, 0.0).is_none() && GeoPoint::new(f64::NAN, 0.0).is_none());
    }
}
