//! Who may call what: scopes and stores from the JWT claims the authorizer put in the request
//! context. The gateway has checked the token; the function checks what it allows.

use http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::problem::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A till.
    Pos,
    /// A store manager.
    Store,
    HeadOffice,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pos" => Some(Scope::Pos),
            "store" => Some(Scope::Store),
            "headoffice" => Some(Scope::HeadOffice),
            _ => None,
        }
    }
}

/// What the token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub scopes: Vec<Scope>,
    pub store_id: Option<String>,
    pub subject: Option<String>,
}

impl Claims {
    /// The claims of a request the JWT authorizer has seen, or `None`.
    pub fn from_request(request: &Request) -> Option<Self> {
        let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
            return None;
        };
        let jwt = ctx.authorizer.as_ref()?.jwt.as_ref()?;
        if jwt.claims.is_empty() {
            return None;
        }
        // HTTP APIs flatten claims to strings; an array claim arrives as "[a b]".
        let raw_scope = jwt.claims.get("scope").map(|s| s.trim_matches(|c| c == '[' || c == ']')).unwrap_or("");
        Some(Claims {
            scopes: raw_scope.split_whitespace().filter_map(Scope::parse).collect(),
            store_id: jwt.claims.get("store_id").cloned(),
            subject: jwt.claims.get("sub").cloned(),
        })
    }
}

/// Checks the route's accepted scopes, then the store in the path: `pos` and `store` tokens act
/// for their `store_id` only; `headoffice` acts for every store.
pub fn authorize(request: &Request, accepted: &[Scope], store_in_path: Option<&str>) -> Result<Claims, Problem> {
    let claims = Claims::from_request(request).ok_or_else(|| {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "the request carries no authorizer claims")
    })?;
    let granted: Vec<Scope> = accepted.iter().copied().filter(|s| claims.scopes.contains(s)).collect();
    if granted.is_empty() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden_scope",
            "the token has none of the scopes this route accepts",
        ));
    }
    if let Some(store) = store_in_path
        && !granted.contains(&Scope::HeadOffice)
        && claims.store_id.as_deref() != Some(store)
    {
        return Err(Problem::new(StatusCode::FORBIDDEN, "forbidden_store", "the token does not act for this store"));
    }
    Ok(claims)
}
