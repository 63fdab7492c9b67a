//! What a newcomer opens first, served by `retail-local` only (API Gateway would answer 404):
//! `/` lists the routes and how to get a token, `/health` says the API is up, and
//! `/openapi.yaml` is the contract the routes follow. The contract uses none of these paths.

use bytes::Bytes;

pub const HEALTH_PATH: &str = "/health";
pub const OPENAPI_PATH: &str = "/openapi.yaml";

/// The contract, built into the binary: what is served is what the binary was built against.
const CONTRACT: &str = include_str!("../../openapi.yaml");

/// The page for `path`, with its media type, if `path` is one of the newcomer's.
pub(crate) fn page<'a>(path: &str, route_keys: impl Iterator<Item = &'a str>) -> Option<(&'static str, Bytes)> {
    match path {
        "/" => Some(("text/plain; charset=utf-8", Bytes::from(index(route_keys)))),
        HEALTH_PATH => Some(("application/json", Bytes::from_static(br#"{"status":"ok"}"#))),
        OPENAPI_PATH => Some(("application/yaml", Bytes::from_static(CONTRACT.as_bytes()))),
        _ => None,
    }
}

fn index<'a>(route_keys: impl Iterator<Item = &'a str>) -> String {
    let mut routes: Vec<&str> = route_keys.collect();
    routes.sort_by_key(|key| key.split_once(' ').map(|(method, path)| (path, method)));
    let mut page = String::from(
        "retail-local: the supermarket chain's API on this machine (API Gateway HTTP API emulated, JWT authorizer)\n\n\
         Every route needs Authorization: Bearer <token>. Tokens, signed with this server's development key:\n\
         \x20 cargo run -q --release --bin retail-local -- token --scope pos --store S001          # a till of S001\n\
         \x20 cargo run -q --release --bin retail-local -- token --scope store --store S001        # S001's manager\n\
         \x20 cargo run -q --release --bin retail-local -- token --scope headoffice                # head office\n\n\
         Routes:\n",
    );
    for route in routes {
        page.push_str("  ");
        page.push_str(route);
        page.push('\n');
    }
    page.push_str(
        "\nThe contract: /openapi.yaml (OpenAPI 3.1)    Up: /health    Signing keys: /.well-known/jwks.json\n",
    );
    page
}
