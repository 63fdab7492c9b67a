//! Helpers the retail-local integration tests share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn fixture_template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template.yaml")
}

pub fn workspace_seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed")
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "retail-local-it-{name}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The signing key the integration tests share, kept between runs under the system temp dir:
/// generating RSA keys is slow in debug builds. Test binaries running at once may both create
/// it; `load_or_create` makes them agree on one.
pub fn key_file() -> PathBuf {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = std::env::temp_dir().join("retail-local-test-signing-key").join("dev-signing-key.pem");
        retail_local::DevKey::load_or_create(&path).unwrap();
        path
    })
    .clone()
}

/// Options for the fixture template, without seed, with the shared test key.
pub fn options() -> retail_local::Options {
    retail_local::Options::new(fixture_template()).without_seed().key_file(key_file())
}
