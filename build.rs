//! The npm package build (scripts/build.sh) asks wasm-ld for a link map of the module
//! (`AGENT_TRACK_LINK_MAP=<file>`): where each constant lives in memory and its size, which
//! scripts/trim-data.mjs uses. Every other build links as before.
fn main() {
    println!("cargo:rerun-if-env-changed=AGENT_TRACK_LINK_MAP");
    if let Ok(map) = std::env::var("AGENT_TRACK_LINK_MAP") {
        if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
            println!("cargo:rustc-link-arg-cdylib=--Map={map}");
        }
    }
}
