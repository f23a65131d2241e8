//! HTTP routes as Spin matches them: exact paths, `/...` wildcards and `/:name` parameters,
//! the most specific route first.

use std::cmp::Reverse;

/// One parsed `route` of a `[[trigger.http]]`.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// What a request path matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The route as written in the manifest (`/users/:id/...`).
    pub raw_route: String,
    /// The route without its trailing wildcard (`/users/:id`).
    pub component_route: String,
    /// The part of the path the wildcard matched (`/rest`), or empty.
    pub path_info: String,
    /// Values of `:name` segments, by name.
    pub params: Vec<(String, String)>,
}

impl RoutePattern {
    /// Parses a route; it must start with `/`, and `...` may only end it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !raw.starts_with('/') {
            return Err(format!("route `{raw}` must start with `/`"));
        }
        let (body, wildcard) = match raw.strip_suffix("/...") {
            Some(body) => (body, true),
            None => (raw, false),
        };
        let mut segments = Vec::new();
        for part in body.split('/').filter(|s| !s.is_empty()) {
            segments.push(match part.strip_prefix(':') {
                Some("") => return Err(format!("route `{raw}` has a parameter without a name")),
                Some(name) => Segment::Param(name.to_string()),
                None if part == "..." => {
                    return Err(format!("route `{raw}` may use `...` only at its end"));
                }
                None => Segment::Literal(part.to_string()),
            });
        }
        Ok(Self {
            raw: raw.to_string(),
            segments,
            wildcard,
        })
    }

    /// Matches a request path against this route.
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        let rest: Vec<&str> = parts.collect();
        if !rest.is_empty() && !self.wildcard {
            return None;
        }
        let mut path_info = String::new();
        for part in rest {
            path_info.push('/');
            path_info.push_str(part);
        }
        if self.wildcard && path.ends_with('/') && !path_info.is_empty() {
            path_info.push('/');
        }
        let component_route = self
            .raw
            .strip_suffix("/...")
            .unwrap_or(&self.raw)
            .to_string();
        Some(RouteMatch {
            raw_route: self.raw.clone(),
            component_route,
            path_info,
            params,
        })
    }

    /// Sort key: exact routes before wildcards, longer before shorter, literals before params.
    fn specificity(&self) -> (bool, Reverse<usize>, Reverse<usize>) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (
            self.wildcard,
            Reverse(self.segments.len()),
            Reverse(literals),
        )
    }
}

/// Routes of the application, each leading to a target (a component index).
#[derive(Debug, Default)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T: Clone> Router<T> {
    /// Builds a router; the most specific route is tried first.
    pub fn new(routes: impl IntoIterator<Item = (RoutePattern, T)>) -> Self {
        let mut routes: Vec<_> = routes.into_iter().collect();
        routes.sort_by_key(|(pattern, _)| pattern.specificity());
        Self { routes }
    }

    /// The targets of every route the path matches, the most specific first.
    pub fn routes_matching<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        self.routes
            .iter()
            .filter(move |(p, _)| p.matches(path).is_some())
            .map(|(_, t)| t)
    }

    /// The target and match of the first route the path matches.
    pub fn route(&self, path: &str) -> Option<(T, RouteMatch)> {
        self.routes
            .iter()
            .find_map(|(p, t)| p.matches(path).map(|m| (t.clone(), m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::new(
            routes
                .iter()
                .filter_map(|r| Some((RoutePattern::parse(r).ok()?, r.to_string()))),
        )
    }

    fn target(router: &Router<String>, path: &str) -> Option<String> {
        router.route(path).map(|(t, _)| t)
    }

    #[test]
    fn exact_beats_wildcard_and_longer_prefix_wins() {
        let r = router(&["/...", "/api/...", "/api/users", "/api/users/:id"]);
        assert_eq!(target(&r, "/api/users").as_deref(), Some("/api/users"));
        assert_eq!(
            target(&r, "/api/users/7").as_deref(),
            Some("/api/users/:id")
        );
        assert_eq!(target(&r, "/api/other/x").as_deref(), Some("/api/..."));
        assert_eq!(target(&r, "/static/a.css").as_deref(), Some("/..."));
    }

    #[test]
    fn literal_segment_beats_parameter() {
        let r = router(&["/users/:id", "/users/me"]);
        assert_eq!(target(&r, "/users/me").as_deref(), Some("/users/me"));
        assert_eq!(target(&r, "/users/42").as_deref(), Some("/users/:id"));
    }

    #[test]
    fn match_reports_params_path_info_and_routes() {
        let r = router(&["/foo/:userid/..."]);
        let (_, m) = r.route("/foo/42/bar/baz").unwrap_or_else(|| unreachable!());
        assert_eq!(m.params, vec![("userid".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/bar/baz");
        assert_eq!(m.raw_route, "/foo/:userid/...");
        assert_eq!(m.component_route, "/foo/:userid");
    }

    #[test]
    fn exact_route_does_not_match_longer_paths() {
        let r = router(&["/hello"]);
        assert!(r.route("/hello").is_some());
        assert!(r.route("/hello/world").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn bad_routes_are_refused() {
        assert!(RoutePattern::parse("hello").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(RoutePattern::parse("/a/:").is_err());
    }
}
