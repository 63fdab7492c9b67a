//! Starting the local API over a back end: the embedded store with the handlers in-process, or
//! a DynamoDB endpoint with the handlers in-process or under the Runtime Interface Emulator.

mod dynamo;
mod embedded;

use crate::api::LocalApi;
use crate::error::StartError;
use crate::options::{Backend, Options};

impl LocalApi {
    /// The template's functions over the options' backend, seeded unless told otherwise.
    pub async fn start(options: &Options) -> Result<LocalApi, StartError> {
        match &options.backend {
            Backend::Embedded => embedded::start_embedded(options).await,
            Backend::Dynamo(dynamo) => dynamo::start_dynamo(options, dynamo).await,
        }
    }
}
