//! A failed DynamoDB call named for what it is: transient (retry shortly) or permanent
//! (DynamoDB will refuse the same request again), by the error codes DynamoDB answers.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::tables::{self, UnconfiguredTable};
use crate::store::StoreError;

/// Any DynamoDB failure the caller did not turn into a domain error, logged in full and named
/// for what it is. `Permanent` when DynamoDB will refuse the same request again (an invalid
/// request, an item over 400 KB, a missing table, credentials or permissions it refuses: see
/// [`refused_for_good`]; or a table this store was not given, refused unsent), logged as an
/// error with the operation and DynamoDB's message;
/// otherwise `Unavailable`, "retry shortly" (throttling, 5xx, timeouts, an unreachable endpoint
/// are transient; a code neither list knows is logged as an error but still counts as one).
pub(crate) fn call_failed<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(table) = tables::unconfigured_table(&err) {
        // A bug, not an outage: the port's declared tables (tables.rs) miss one it uses.
        let refused = UnconfiguredTable(table);
        tracing::error!(operation, table = table.variable(), error = %refused, "DynamoDB call refused");
        return StoreError::permanent(operation, "UnconfiguredTable", refused.to_string());
    }
    let (transient, code) = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (true, None),
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            if let Some(code) = code.filter(|c| refused_for_good(c)) {
                let message = service.err().message().unwrap_or("(no message)");
                tracing::error!(operation, code, message, "DynamoDB refused the request for good: retrying it cannot help");
                return StoreError::permanent(operation, code, message);
            }
            let transient = code.is_some_and(retry_may_succeed) || service.raw().status().as_u16() >= 500;
            (transient, code)
        }
        _ => (false, None),
    };
    if transient {
        tracing::warn!(operation, code, error = %DisplayErrorContext(&err), "DynamoDB is unavailable");
    } else {
        tracing::error!(operation, code, error = %DisplayErrorContext(&err), "DynamoDB call failed");
    }
    StoreError::Unavailable("the database is unavailable".to_owned())
}

/// Whether DynamoDB will refuse a request again as it stands, by its error code: an exception's
/// (`ValidationException`) or a cancelled transaction item's reason (`ValidationError`). The
/// transaction's reasons are those the TransactWriteItems reference lists; moto names a
/// reason by its exception instead (`ResourceNotFoundException`).
pub(crate) fn refused_for_good(code: &str) -> bool {
    matches!(
        code,
        // The request itself: an item over 400 KB, a bad expression, a key of the wrong type,
        // a body the service cannot parse.
        "ValidationException"
            | "ValidationError"
            | "SerializationException"
            // An item collection (a partition with local secondary indexes) over 10 GB.
            | "ItemCollectionSizeLimitExceededException"
            | "ItemCollectionSizeLimitExceeded"
            // A client token reused with other parameters (TransactWriteItems).
            | "IdempotentParameterMismatchException"
            // Where: a table or index that does not exist (or not yet).
            | "ResourceNotFoundException"
            // Who: credentials or a policy it does not accept.
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException"
            | "IncompleteSignatureException"
    )
}

/// Codes DynamoDB answers when it throttles: an exception's, or a cancelled transaction item's
/// reason (`ThrottlingError`).
pub(crate) fn throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "ThrottlingError"
            | "ProvisionedThroughputExceededException"
            | "ProvisionedThroughputExceeded"
            | "RequestLimitExceeded"
    )
}

/// Codes DynamoDB answers when the same request may succeed shortly (the SDK retries them too).
fn retry_may_succeed(code: &str) -> bool {
    throttling(code)
        || matches!(
            code,
            "InternalServerError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "TransactionInProgressException"
                | "TransactionConflictException"
                | "TransactionConflict"
                | "ReplicatedWriteConflictException"
                | "RequestTimeout"
                | "RequestTimeoutException"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// What `PutItem` failing with `code` (as DynamoDB answers it, with `status`) becomes.
    fn put_failed(code: &str, status: u16) -> StoreError {
        let meta = ErrorMetadata::builder().code(code).message(format!("the service says {code}")).build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        call_failed("PutItem", SdkError::service_error(PutItemError::generic(meta), raw))
    }

    #[test]
    fn a_request_dynamodb_refuses_as_it_stands_is_permanent_with_its_words() {
        for code in [
            "ValidationException",
            "SerializationException",
            "ItemCollectionSizeLimitExceededException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "MissingAuthenticationTokenException",
        ] {
            assert_eq!(
                put_failed(code, 400),
                StoreError::permanent("PutItem", code, format!("the service says {code}")),
                "{code}"
            );
        }
    }

    #[test]
    fn throttling_conflicts_and_server_errors_are_transient() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("ProvisionedThroughputExceededException", 400),
            ("RequestLimitExceeded", 400),
            ("TransactionConflictException", 400),
            ("TransactionInProgressException", 400),
            ("InternalServerError", 500),
            ("ServiceUnavailable", 503),
            // A code nobody listed, answered with a 5xx: the status says transient.
            ("SomethingNew", 502),
        ] {
            let e = put_failed(code, status);
            assert!(matches!(e, StoreError::Unavailable(_)), "{code}: {e:?}");
        }
    }

    #[test]
    fn timeouts_and_unreachable_endpoints_are_transient() {
        let timeout: SdkError<PutItemError, HttpResponse> = SdkError::timeout_error("attempt timed out");
        assert!(matches!(call_failed("PutItem", timeout), StoreError::Unavailable(_)));
        let dispatch: SdkError<PutItemError, HttpResponse> = SdkError::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::io("connection refused".into()),
        );
        assert!(matches!(call_failed("PutItem", dispatch), StoreError::Unavailable(_)));
    }

    #[test]
    fn a_code_nobody_listed_answered_with_a_4xx_stays_transient() {
        // Unknown is not proof of permanence: it is logged as an error and retried as before.
        assert!(matches!(put_failed("ConditionalCheckFailedException", 400), StoreError::Unavailable(_)));
        assert!(matches!(put_failed("SomethingNew", 400), StoreError::Unavailable(_)));
    }

    #[test]
    fn transaction_reasons_are_classified_like_exceptions() {
        // TransactWriteItems' cancellation reasons, and moto's way of naming one.
        for code in ["ValidationError", "ItemCollectionSizeLimitExceeded", "ResourceNotFoundException"] {
            assert!(refused_for_good(code), "{code}");
        }
        for code in ["None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"] {
            assert!(!refused_for_good(code), "{code}");
        }
    }
}
