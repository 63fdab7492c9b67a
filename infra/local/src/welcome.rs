//! What a newcomer opens first, served by `retail-local` only (API Gateway would answer 404):
//! `/` lists the routes and how to get a token, `/health` says the API is up,
//! `/openapi.yaml` is the contract the routes follow and `/docs` shows it in a browser. The
//! contract uses none of these paths.

use bytes::Bytes;

pub const HEALTH_PATH: &str = "/health";
pub const OPENAPI_PATH: &str = "/openapi.yaml";
pub const DOCS_PATH: &str = "/docs";
pub const REDOC_PATH: &str = "/docs/redoc.standalone.js";
/// Where the bundle's first line says its licences are, relative to the bundle.
pub const REDOC_NOTICES_PATH: &str = "/docs/redoc.standalone.js.LICENSE.txt";

/// The contract, built into the binary: what is served is what the binary was built against.
const CONTRACT: &str = include_str!("../../openapi.yaml");

/// Redoc's standalone bundle, vendored (`assets/README.md` says from where and how to update
/// it): the viewer needs no network, and what runs in the browser is what was reviewed.
const REDOC: &[u8] = include_bytes!("../assets/redoc.standalone.js");
const REDOC_NOTICES: &str = include_str!("../assets/redoc.standalone.js.LICENSE.txt");

/// The viewer. The bundle finds `<redoc spec-url>` by itself, so the page has no script of its
/// own, and every address in it is this server's. The policy keeps the browser at home for
/// what the bundle would load by itself: Redocly's logo at the foot of the menu, any fetch.
const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="img-src 'self' data:; connect-src 'self'">
<title>Retail API: the contract (retail-local)</title>
<style>body { margin: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.yaml"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// The page for `path`, with its media type, if `path` is one of the newcomer's.
pub(crate) fn page<'a>(path: &str, route_keys: impl Iterator<Item = &'a str>) -> Option<(&'static str, Bytes)> {
    match path {
        "/" => Some(("text/plain; charset=utf-8", Bytes::from(index(route_keys)))),
        HEALTH_PATH => Some(("application/json", Bytes::from_static(br#"{"status":"ok"}"#))),
        OPENAPI_PATH => Some(("application/yaml", Bytes::from_static(CONTRACT.as_bytes()))),
        DOCS_PATH => Some(("text/html; charset=utf-8", Bytes::from_static(DOCS_PAGE.as_bytes()))),
        REDOC_PATH => Some(("text/javascript; charset=utf-8", Bytes::from_static(REDOC))),
        REDOC_NOTICES_PATH => Some(("text/plain; charset=utf-8", Bytes::from_static(REDOC_NOTICES.as_bytes()))),
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
        "\nThe contract: /openapi.yaml (OpenAPI 3.1), to read in a browser: /docs    Up: /health    \
         Signing keys: /.well-known/jwks.json\n",
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Router;
    use crate::template::Template;
    use http::Method;
    use sha2::{Digest, Sha256};

    const ASSETS_README: &str = include_str!("../assets/README.md");

    /// The value after `label` on the README's line that has it, between backticks.
    fn readme_value(label: &str) -> &'static str {
        let line = ASSETS_README
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("assets/README.md has a line starting with {label:?}"));
        line.split('`').nth(1).unwrap_or_else(|| panic!("{line:?} has a value in backticks"))
    }

    #[test]
    fn the_vendored_bundle_is_the_one_its_readme_names() {
        let sha256: String = Sha256::digest(REDOC).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha256, readme_value("sha256"), "change assets/README.md with the bundle");
        let size = format!("`redoc.standalone.js`: {} bytes", REDOC.len());
        assert!(ASSETS_README.contains(&size), "assets/README.md says {size}");
        let version = ASSETS_README.split("version **").nth(1).and_then(|r| r.split("**").next()).unwrap();
        assert!(REDOC_NOTICES.contains(&format!("Version: \"{version}\"")), "the bundle is Redoc {version}");
    }

    /// The pages are answered before routing: a route of the template on one of these paths would
    /// never be reached.
    #[test]
    fn no_route_of_the_template_is_on_a_page_path() {
        let template = Template::parse(include_str!("../../../template.yaml")).unwrap();
        let router = Router::new(template.routes.iter().map(|r| (r.method.clone(), r.path.clone(), ()))).unwrap();
        assert!(!router.is_empty());
        for path in ["/", HEALTH_PATH, OPENAPI_PATH, DOCS_PATH, REDOC_PATH, REDOC_NOTICES_PATH] {
            assert!(page(path, std::iter::empty()).is_some(), "{path} is a page");
            for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                let found = router.find(&method, path).map(|m| m.route_key);
                assert_eq!(found, None, "{method} {path}");
            }
        }
    }
}
