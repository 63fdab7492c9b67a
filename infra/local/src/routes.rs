//! Route matching as an API Gateway HTTP API does it: `{name}` takes one non-empty path
//! segment, `{name+}` the rest of the path; literal segments match case-sensitively; a route
//! with the request's method beats an `ANY` route, then the more specific path wins (a literal
//! segment beats a parameter, which beats a greedy one, left to right); `$default` catches what
//! nothing else does. No match, including a path that exists under another method, is 404.

use http::Method;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

#[derive(Debug)]
struct Compiled<T> {
    /// `None` for `ANY`.
    method: Option<Method>,
    segments: Vec<Segment>,
    route_key: String,
    target: T,
}

/// Routes compiled once at start; matching allocates only the parameter values.
#[derive(Debug)]
pub struct Router<T> {
    routes: Vec<Compiled<T>>,
    default: Option<(String, T)>,
}

/// A request's route: what it maps to and its decoded path parameters.
#[derive(Debug)]
pub struct Matched<'r, T> {
    pub route_key: &'r str,
    pub target: &'r T,
    pub params: Vec<(&'r str, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("route {0:?}: a path starts with /")]
    NotAbsolute(String),
    #[error("route {0:?}: a greedy parameter {{name+}} can only be the last segment")]
    GreedyNotLast(String),
    #[error("route {0:?}: {1:?} is not a valid path segment")]
    BadSegment(String, String),
    #[error("route {0:?}: method {1:?} is not an HTTP method")]
    BadMethod(String, String),
    #[error("routes {0:?} and {1:?} match the same requests")]
    Conflict(String, String),
}

fn parse_segment(route: &str, raw: &str) -> Result<Segment, RouteError> {
    if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if name.is_empty() || name.contains(['{', '}', '+']) {
            return Err(RouteError::BadSegment(route.to_owned(), raw.to_owned()));
        }
        return Ok(if greedy { Segment::Greedy(name.to_owned()) } else { Segment::Param(name.to_owned()) });
    }
    if raw.contains(['{', '}']) {
        return Err(RouteError::BadSegment(route.to_owned(), raw.to_owned()));
    }
    Ok(Segment::Literal(raw.to_owned()))
}

impl<T> Router<T> {
    /// Compiles `(method, path, target)` triples; `path` may be `$default` (method ignored).
    pub fn new(routes: impl IntoIterator<Item = (String, String, T)>) -> Result<Router<T>, RouteError> {
        let mut compiled: Vec<Compiled<T>> = Vec::new();
        let mut default = None;
        for (method, path, target) in routes {
            if path == "$default" {
                if default.is_some() {
                    return Err(RouteError::Conflict(path.clone(), path));
                }
                default = Some((path, target));
                continue;
            }
            let route_key = format!("{method} {path}");
            let rest = path.strip_prefix('/').ok_or_else(|| RouteError::NotAbsolute(route_key.clone()))?;
            let segments = rest.split('/').map(|s| parse_segment(&route_key, s)).collect::<Result<Vec<_>, _>>()?;
            if segments.iter().rev().skip(1).any(|s| matches!(s, Segment::Greedy(_))) {
                return Err(RouteError::GreedyNotLast(route_key));
            }
            let method = if method == "ANY" {
                None
            } else {
                Some(
                    Method::from_bytes(method.as_bytes())
                        .map_err(|_| RouteError::BadMethod(route_key.clone(), method.clone()))?,
                )
            };
            if let Some(other) = compiled.iter().find(|c| c.method == method && same_shape(&c.segments, &segments)) {
                return Err(RouteError::Conflict(other.route_key.clone(), route_key));
            }
            compiled.push(Compiled { method, segments, route_key, target });
        }
        Ok(Router { routes: compiled, default })
    }

    /// Every route key, `$default` last.
    pub fn route_keys(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.route_key.as_str()).chain(self.default.as_ref().map(|(k, _)| k.as_str()))
    }

    pub fn len(&self) -> usize {
        self.routes.len() + usize::from(self.default.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The route for a request, with its path parameters percent-decoded. `path` is the raw
    /// request path (no query).
    pub fn find(&self, method: &Method, path: &str) -> Option<Matched<'_, T>> {
        let mut best: Option<&Compiled<T>> = None;
        for route in &self.routes {
            let method_ok = route.method.as_ref().is_none_or(|m| m == method);
            if !method_ok || !path_matches(&route.segments, path) {
                continue;
            }
            best = match best {
                None => Some(route),
                Some(current) if more_specific(route, current) == Ordering::Greater => Some(route),
                keep => keep,
            };
        }
        match best {
            Some(route) => Some(Matched {
                route_key: &route.route_key,
                target: &route.target,
                params: params_of(&route.segments, path),
            }),
            None => self.default.as_ref().map(|(key, target)| Matched { route_key: key, target, params: Vec::new() }),
        }
    }
}

fn same_shape(a: &[Segment], b: &[Segment]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            (Segment::Param(_), Segment::Param(_)) | (Segment::Greedy(_), Segment::Greedy(_)) => true,
            _ => false,
        })
}

fn more_specific<T>(a: &Compiled<T>, b: &Compiled<T>) -> Ordering {
    // The request's own method beats ANY; then literal > param > greedy, left to right.
    let by_method = a.method.is_some().cmp(&b.method.is_some());
    by_method.then_with(|| {
        let ranks = |c: &Compiled<T>| c.segments.iter().map(Segment::rank).collect::<Vec<_>>();
        ranks(a).cmp(&ranks(b))
    })
}

fn raw_segments(path: &str) -> Option<std::str::Split<'_, char>> {
    path.strip_prefix('/').map(|rest| rest.split('/'))
}

fn path_matches(segments: &[Segment], path: &str) -> bool {
    let Some(mut raw) = raw_segments(path) else { return false };
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(_) => {
                // At least one non-empty segment remains.
                let rest: Vec<&str> = raw.by_ref().collect();
                return i == segments.len() - 1 && !rest.is_empty() && rest.iter().any(|s| !s.is_empty());
            }
            Segment::Literal(lit) => match raw.next() {
                Some(s) if s == lit => {}
                Some(s) if s.contains('%') && percent_decode(s) == *lit => {}
                _ => return false,
            },
            Segment::Param(_) => match raw.next() {
                Some(s) if !s.is_empty() => {}
                _ => return false,
            },
        }
    }
    raw.next().is_none()
}

fn params_of<'r>(segments: &'r [Segment], path: &str) -> Vec<(&'r str, String)> {
    let mut params = Vec::new();
    let Some(rest) = path.strip_prefix('/') else { return params };
    let mut raw = rest.split('/');
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(_) => {
                raw.next();
            }
            Segment::Param(name) => params.push((name.as_str(), percent_decode(raw.next().unwrap_or("")))),
            Segment::Greedy(name) => {
                let remainder = rest.splitn(i + 1, '/').nth(i).unwrap_or("");
                params.push((name.as_str(), percent_decode(remainder)));
                break;
            }
        }
    }
    params
}

/// `%XX` decoded; `+` stays `+` (it is only a space in form bodies); a malformed escape stays
/// as written; bytes that are not UTF-8 are replaced.
pub fn percent_decode(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router<usize> {
        Router::new(routes.iter().enumerate().map(|(i, (m, p))| (m.to_string(), p.to_string(), i))).unwrap()
    }

    fn api() -> Router<usize> {
        router(&[
            ("GET", "/stores/{storeId}/commodities/{sku}"),
            ("POST", "/stores/{storeId}/commodities/lookup"),
            ("PUT", "/stores/{storeId}"),
            ("GET", "/reports/daily"),
            ("GET", "/price-adjustments/{batchId}"),
        ])
    }

    #[test]
    fn params_match_one_segment_and_are_percent_decoded() {
        let r = api();
        let m = r.find(&Method::GET, "/stores/S001/commodities/MILK%2D1L").unwrap();
        assert_eq!(m.route_key, "GET /stores/{storeId}/commodities/{sku}");
        assert_eq!(m.params, vec![("storeId", "S001".to_owned()), ("sku", "MILK-1L".to_owned())]);
        let m = r.find(&Method::GET, "/price-adjustments/a%2Fb%20c+d").unwrap();
        assert_eq!(m.params, vec![("batchId", "a/b c+d".to_owned())]);
        assert!(r.find(&Method::GET, "/stores/S001/commodities/a/b").is_none());
        assert!(r.find(&Method::GET, "/stores//commodities/x").is_none());
    }

    #[test]
    fn a_literal_segment_beats_a_parameter() {
        let r =
            router(&[("ANY", "/stores/{storeId}/commodities/{sku}"), ("ANY", "/stores/{storeId}/commodities/lookup")]);
        assert_eq!(r.find(&Method::POST, "/stores/S1/commodities/lookup").unwrap().target, &1);
        assert_eq!(r.find(&Method::POST, "/stores/S1/commodities/x").unwrap().target, &0);
        // A GET to the literal path still is the GET route when only that one takes GET.
        let r = api();
        let m = r.find(&Method::GET, "/stores/S1/commodities/lookup").unwrap();
        assert_eq!(m.route_key, "GET /stores/{storeId}/commodities/{sku}");
        assert_eq!(m.params[1], ("sku", "lookup".to_owned()));
    }

    #[test]
    fn unknown_paths_other_methods_case_and_trailing_slashes_do_not_match() {
        let r = api();
        assert!(r.find(&Method::POST, "/reports/daily").is_none());
        assert!(r.find(&Method::GET, "/reports/daily/").is_none());
        assert!(r.find(&Method::GET, "/Reports/daily").is_none());
        assert!(r.find(&Method::GET, "/reports").is_none());
        assert!(r.find(&Method::GET, "/").is_none());
        assert!(r.find(&Method::GET, "/nothing/here").is_none());
    }

    #[test]
    fn the_request_method_beats_any_and_greedy_takes_the_rest() {
        let r = router(&[("ANY", "/a/{x}"), ("GET", "/a/{x}"), ("ANY", "/{proxy+}")]);
        assert_eq!(r.find(&Method::GET, "/a/1").unwrap().target, &1);
        assert_eq!(r.find(&Method::PUT, "/a/1").unwrap().target, &0);
        let m = r.find(&Method::DELETE, "/a/1/2%203").unwrap();
        assert_eq!(m.target, &2);
        assert_eq!(m.params, vec![("proxy", "a/1/2 3".to_owned())]);
        assert!(r.find(&Method::GET, "/").is_none());
    }

    #[test]
    fn default_route_catches_the_rest() {
        let r = Router::new(vec![("GET".into(), "/a".into(), 0), ("ANY".into(), "$default".into(), 1)]).unwrap();
        assert_eq!(r.find(&Method::GET, "/a").unwrap().target, &0);
        let m = r.find(&Method::POST, "/a").unwrap();
        assert_eq!((m.route_key, m.target), ("$default", &1));
    }

    #[test]
    fn routes_that_match_the_same_requests_are_refused() {
        let err =
            Router::new(vec![("GET".into(), "/a/{x}".into(), 0), ("GET".into(), "/a/{y}".into(), 1)]).unwrap_err();
        assert_eq!(err, RouteError::Conflict("GET /a/{x}".into(), "GET /a/{y}".into()));
        assert!(Router::new(vec![("GET".into(), "/{p+}/a".into(), 0)]).is_err());
        assert!(Router::new(vec![("GET".into(), "a".into(), 0)]).is_err());
    }

    #[test]
    fn percent_decoding_leaves_malformed_escapes() {
        assert_eq!(percent_decode("a%41%4"), "aA%4");
        assert_eq!(percent_decode("%zz%e4%b8%ad"), "%zz中");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
