//! Bakes the domain's TOML data into Rust; a data error fails the build.
fn main() {
    casegrid_plugin_sdk::build::domain();
}
