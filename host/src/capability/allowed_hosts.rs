//! `allowed_outbound_hosts`: which addresses a component may reach.
//!
//! A pattern is `scheme://host[:port]` where the scheme, the host and the port may each be `*`,
//! and the host may start with `*.` to allow its subdomains. A missing port means the scheme's
//! default port, as Spin reads it.

use std::fmt;

/// The parsed `allowed_outbound_hosts` list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<HostPattern>);

#[derive(Debug, Clone)]
struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone)]
enum HostMatch {
    Any,
    Exact(String),
    Subdomain(String),
}

/// An address a component asked for, split into the parts a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The URL scheme, lower-case.
    pub scheme: String,
    /// The host name or IP address, lower-case, without brackets.
    pub host: String,
    /// The port, or the scheme's default.
    pub port: Option<u16>,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}://{}:{port}", self.scheme, self.host),
            None => write!(f, "{}://{}", self.scheme, self.host),
        }
    }
}

/// The port a scheme uses when an address names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "postgres" | "postgresql" => Some(5432),
        "redis" => Some(6379),
        "mysql" => Some(3306),
        _ => None,
    }
}

impl Address {
    /// Splits a URL such as `postgres://user:pw@db:5432/name` into scheme, host and port.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("`{url}` has no `scheme://`"))?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        let port = match port {
            Some(p) => Some(p.parse().map_err(|_| format!("`{url}` has a bad port"))?),
            None => default_port(&scheme),
        };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed `[` in address")?;
        return Ok((host, after.strip_prefix(':')));
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

impl AllowedHosts {
    /// Parses the manifest's list; an entry that is not `scheme://host[:port]` is an error.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        list.iter()
            .map(|p| HostPattern::parse(p))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `address` matches any pattern.
    pub fn allows(&self, address: &Address) -> bool {
        self.0.iter().any(|p| p.matches(address))
    }

    /// Parses `url` and checks it, answering a message fit for the component when refused.
    pub fn check_url(&self, url: &str) -> Result<Address, String> {
        let address = Address::parse(url)?;
        if self.allows(&address) {
            Ok(address)
        } else {
            Err(format!(
                "{address} is not in the component's allowed_outbound_hosts"
            ))
        }
    }
}

impl HostPattern {
    fn parse(pattern: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("allowed host `{pattern}` {why}");
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| bad("must be `scheme://host[:port]`"))?;
        if rest.contains('/') && rest.trim_end_matches('/').contains('/') {
            return Err(bad("must not have a path"));
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = split_host_port(rest).map_err(|e| bad(&e))?;
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
                Some(s.to_ascii_lowercase())
            }
            _ => return Err(bad("has a bad scheme")),
        };
        let host = match host {
            "" => return Err(bad("has no host")),
            "*" => HostMatch::Any,
            h if h.starts_with("*.") => HostMatch::Subdomain(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => return Err(bad("may use `*` only as `*` or `*.domain`")),
            h => HostMatch::Exact(h.to_ascii_lowercase()),
        };
        let port = match port {
            Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad("has a bad port"))?),
            None => match &scheme {
                Some(s) => Some(default_port(s).ok_or_else(|| bad("needs a port"))?),
                None => return Err(bad("needs a port with the `*` scheme")),
            },
        };
        Ok(Self { scheme, host, port })
    }

    fn matches(&self, address: &Address) -> bool {
        let scheme = self.scheme.as_deref().is_none_or(|s| {
            s == address.scheme || (s == "postgres" && address.scheme == "postgresql")
        });
        let host = match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => *h == address.host,
            HostMatch::Subdomain(suffix) => address.host.ends_with(suffix.as_str()),
        };
        let port = self.port.is_none() || self.port == address.port;
        scheme && host && port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> AllowedHosts {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&list).unwrap_or_default()
    }

    #[test]
    fn default_ports_apply_to_patterns_and_addresses() {
        let allowed = hosts(&["postgres://localhost", "https://example.com"]);
        assert!(allowed.check_url("postgres://u:p@localhost/db").is_ok());
        assert!(allowed.check_url("postgres://localhost:6000/db").is_err());
        assert!(allowed.check_url("https://example.com/x?y").is_ok());
        assert!(allowed.check_url("http://example.com/").is_err());
    }

    #[test]
    fn wildcards_match_schemes_hosts_and_ports() {
        let allowed = hosts(&["*://*.internal:*", "redis://127.0.0.1:*"]);
        assert!(allowed.check_url("http://api.internal:8080/").is_ok());
        assert!(allowed.check_url("http://internal:8080/").is_err());
        assert!(allowed.check_url("redis://127.0.0.1:7000").is_ok());
    }

    #[test]
    fn refused_host_message_names_address() {
        let message = hosts(&[]).check_url("https://evil.example/steal");
        assert_eq!(
            message.err().as_deref(),
            Some("https://evil.example:443 is not in the component's allowed_outbound_hosts")
        );
    }

    #[test]
    fn malformed_patterns_fail() {
        for bad in [
            "example.com",
            "https://ex*ample.com",
            "*://host",
            "https://host:port",
        ] {
            assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
