//! What to serve and how: the template, signing key and demo data, and the back end the
//! functions keep their data on (embedded store, or DynamoDB with the functions in-process or
//! under the Runtime Interface Emulator).

use std::path::{Path, PathBuf};

use crate::authorizer;

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub template: PathBuf,
    /// The signing key; `None`: `<template dir>/.retail-local/dev-signing-key.pem`.
    pub key_file: Option<PathBuf>,
    /// Demo data loaded at start; `None`: start empty.
    pub seed_dir: Option<PathBuf>,
    /// Also serve `GET /__bench/hello`.
    pub bench_hello: bool,
    /// Where the functions keep their data, and how they run.
    pub backend: Backend,
}

/// Where the data lives and how the functions run.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// The embedded store, handlers in-process.
    #[default]
    Embedded,
    /// A DynamoDB-compatible endpoint (DynamoDB Local, moto, AWS).
    Dynamo(DynamoOptions),
}

#[derive(Debug, Clone)]
pub struct DynamoOptions {
    pub endpoint: String,
    /// Table names are `<prefix><LogicalId>` (`retail-SalesTable`).
    pub table_prefix: String,
    /// Run each function's release binary under the Runtime Interface Emulator instead of its
    /// handler in-process.
    pub emulator: Option<EmulatorOptions>,
}

/// The default `--table-prefix`.
pub const DEFAULT_TABLE_PREFIX: &str = "retail-";

#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The `aws-lambda-rie` executable.
    pub emulator: PathBuf,
    /// Where the functions' release binaries are (`target/release`).
    pub functions_dir: PathBuf,
    /// Execution environments per function at most (concurrent invocations of it).
    pub max_environments: usize,
    /// Also show the emulator's own lines (`(rapid)`, START/END/REPORT), not only the functions'.
    pub emulator_logs: bool,
}

impl Options {
    /// Serves `template`, seeded from `<template dir>/infra/seed`.
    pub fn new(template: impl Into<PathBuf>) -> Self {
        let template = template.into();
        let seed_dir = Some(template_dir(&template).join("infra/seed"));
        Options { template, key_file: None, seed_dir, bench_hello: false, backend: Backend::Embedded }
    }

    pub fn without_seed(mut self) -> Self {
        self.seed_dir = None;
        self
    }

    pub fn seed_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.seed_dir = Some(dir.into());
        self
    }

    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    pub fn bench_hello(mut self, on: bool) -> Self {
        self.bench_hello = on;
        self
    }

    pub fn resolved_key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| authorizer::key_path_for(&self.template))
    }
}

fn template_dir(template: &Path) -> &Path {
    template.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
