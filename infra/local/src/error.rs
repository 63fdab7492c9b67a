//! Why the local API could not start: one error for every step of a start (template, key,
//! routes, seed, socket, DynamoDB tables, emulator), so callers report it as it is.

use crate::authorizer::KeyError;
use crate::gateway::BuildError;
use crate::routes::RouteError;
use crate::seed::SeedError;
use crate::template::TemplateError;

/// Why the local API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the template's routes do not compile: {0}")]
    Routes(#[from] RouteError),
    #[error("{function} is served by binary {binary:?}, which retail-local does not host (it hosts: {known})")]
    UnknownBinary { function: String, binary: String, known: String },
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("DynamoDB at {endpoint}: {why}")]
    Tables { endpoint: String, why: String },
    #[error("{0}")]
    Emulator(String),
}

impl From<BuildError> for StartError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::UnknownBinary { function, binary, known } => StartError::UnknownBinary { function, binary, known },
            BuildError::Routes(e) => StartError::Routes(e),
        }
    }
}
