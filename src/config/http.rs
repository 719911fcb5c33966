//! `[http]` of `clerk.toml`: the operations console and the monitoring endpoints, served by
//! `clerk run`; and `[http.approval]`, the four-eyes limit that the console and the command
//! line both keep.
//!
//! ```toml
//! [http]
//! listen = "127.0.0.1:8080"               # absent: no console, no /metrics
//! public_url = "https://clerk.example.com" # what links in mail point at
//! tls = { cert = "/etc/clerk/tls.crt", key = "/etc/clerk/tls.key" }
//! metrics_token_file = "/etc/clerk/metrics-token"
//! session_idle = "30m"
//! session_max = "12h"
//! trusted_proxies = ["127.0.0.1"]         # single sign-on: who may say who the user is
//! user_header = "X-Remote-User"
//! [http.approval]
//! above = "1000.00"                       # in every currency
//! currencies = { JPY = "150000" }         # or per currency
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::error::{ConfigError, Locator};
use crate::model::Currency;
use crate::settings::{parse_duration, resolve};

/// `[http]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    listen: Option<String>,
    public_url: Option<String>,
    tls: Option<RawTls>,
    metrics_token_file: Option<String>,
    session_idle: Option<String>,
    session_max: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    user_header: Option<String>,
    approval: Option<RawApproval>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    above: Option<toml::Value>,
    #[serde(default)]
    currencies: BTreeMap<String, toml::Value>,
}

/// The console's settings. `listen` is `None` when `[http]` is absent or names no address:
/// then nothing is served, but the approval limit and `public_url` still hold.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: Option<SocketAddr>,
    /// Without a trailing slash; links in mail are only written when it is set.
    pub public_url: Option<String>,
    pub tls: Option<TlsFiles>,
    /// The file holding the bearer token `/metrics` asks for; open when `None`.
    pub metrics_token_file: Option<PathBuf>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_max: Duration,
    /// Reverse proxies whose `user_header` is believed. Empty: single sign-on is off.
    pub trusted_proxies: Vec<IpAddr>,
    pub user_header: Option<String>,
    pub approval: ApprovalLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: None,
            public_url: None,
            tls: None,
            metrics_token_file: None,
            session_idle: DEFAULT_SESSION_IDLE,
            session_max: DEFAULT_SESSION_MAX,
            trusted_proxies: Vec::new(),
            user_header: None,
            approval: ApprovalLimits::default(),
        }
    }
}

pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_SESSION_MAX: Duration = Duration::from_secs(12 * 60 * 60);

impl HttpSettings {
    /// The console's address of `path` (which starts with `/`), when `public_url` is set.
    pub fn link(&self, path: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| format!("{base}{path}"))
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Above what amount a forced match or a write-off needs a second person (four eyes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalLimits {
    /// In every currency without its own limit; `None`: no approval needed.
    pub above: Option<Decimal>,
    pub currencies: BTreeMap<Currency, Decimal>,
}

impl ApprovalLimits {
    /// The limit in `currency`, if any: an amount strictly above it needs approval.
    pub fn limit(&self, currency: Currency) -> Option<Decimal> {
        self.currencies.get(&currency).copied().or(self.above)
    }

    /// Whether `amount` (its absolute value) in `currency` needs a second person.
    pub fn needs_approval(&self, currency: Currency, amount: Decimal) -> bool {
        self.limit(currency).is_some_and(|l| amount.abs() > l)
    }
}

pub(super) fn check_http(
    raw: Option<&RawHttp>,
    root: &Path,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> HttpSettings {
    let Some(raw) = raw else {
        return HttpSettings::default();
    };
    let mut out = HttpSettings::default();
    if let Some(listen) = &raw.listen {
        match listen.parse::<SocketAddr>() {
            Ok(a) => out.listen = Some(a),
            Err(_) => errors.push(loc.error(
                "http.listen",
                format!("expected an address and port such as 127.0.0.1:8080, found {listen:?}"),
            )),
        }
    }
    if let Some(url) = &raw.public_url {
        let trimmed = url.trim().trim_end_matches('/');
        let ok = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
            && trimmed.split("://").nth(1).is_some_and(|h| !h.is_empty())
            && !trimmed.contains(char::is_whitespace);
        if ok {
            out.public_url = Some(trimmed.to_string());
        } else {
            errors.push(loc.error(
                "http.public_url",
                format!(
                    "expected the console's address as people reach it, such as \
                     https://clerk.example.com, found {url:?}"
                ),
            ));
        }
    }
    if let Some(tls) = &raw.tls {
        out.tls = Some(TlsFiles {
            cert: resolve(root, &tls.cert),
            key: resolve(root, &tls.key),
        });
    }
    out.metrics_token_file = raw.metrics_token_file.as_deref().map(|f| resolve(root, f));
    let mut duration = |key: &str, value: &Option<String>, default: Duration| match value {
        None => default,
        Some(v) => match parse_duration(v) {
            // Seconds are too short for people, but tests of expiry need them.
            Ok(d) if d >= Duration::from_secs(1) => d,
            Ok(_) => {
                errors.push(loc.error(key, format!("expected at least 1s, found {v:?}")));
                default
            }
            Err(m) => {
                errors.push(loc.error(key, m));
                default
            }
        },
    };
    out.session_idle = duration("http.session_idle", &raw.session_idle, DEFAULT_SESSION_IDLE);
    out.session_max = duration("http.session_max", &raw.session_max, DEFAULT_SESSION_MAX);
    if out.session_idle > out.session_max {
        errors.push(loc.error(
            "http.session_idle",
            "the idle timeout is longer than session_max, the longest a session may last",
        ));
    }
    for (i, p) in raw.trusted_proxies.iter().enumerate() {
        match p.parse::<IpAddr>() {
            Ok(ip) => out.trusted_proxies.push(ip),
            Err(_) => errors.push(loc.error(
                &format!("http.trusted_proxies[{i}]"),
                format!("expected an IP address such as 127.0.0.1, found {p:?}"),
            )),
        }
    }
    out.user_header = raw.user_header.clone();
    match (&out.user_header, out.trusted_proxies.is_empty()) {
        (Some(_), true) => errors.push(loc.error(
            "http.user_header",
            "a user header is believed only from trusted_proxies; name the proxy's address",
        )),
        (None, false) => errors.push(loc.error(
            "http.trusted_proxies",
            "name the header the proxy puts the user in (user_header = \"X-Remote-User\")",
        )),
        _ => {}
    }
    if let Some(approval) = &raw.approval {
        if let Some(v) = &approval.above {
            out.approval.above = super::non_negative_decimal(loc, "http.approval.above", v)
                .map_err(|e| errors.push(e))
                .ok();
        }
        for (code, v) in &approval.currencies {
            let key = format!("http.approval.currencies.{code}");
            let Ok(currency) = code.parse::<Currency>() else {
                errors.push(loc.error(
                    &key,
                    format!("expected an ISO 4217 code such as EUR, found {code:?}"),
                ));
                continue;
            };
            if let Ok(d) = super::non_negative_decimal(loc, &key, v).map_err(|e| errors.push(e)) {
                out.approval.currencies.insert(currency, d);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (HttpSettings, Vec<ConfigError>) {
        let file = PathBuf::from("/etc/clerk/clerk.toml");
        let loc = Locator::new(&file, text);
        #[derive(Deserialize)]
        struct Wrap {
            http: RawHttp,
        }
        let raw: Wrap = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let s = check_http(Some(&raw.http), Path::new("/etc"), &loc, &mut errors);
        (s, errors)
    }

    #[test]
    fn a_full_http_table_is_read() {
        let (s, errors) = load(
            "[http]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://clerk.example.com/\"\n\
             trusted_proxies = [\"10.0.0.1\"]\nuser_header = \"X-Remote-User\"\n\
             [http.approval]\nabove = \"1000.00\"\ncurrencies = { JPY = \"150000\" }\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(
            s.link("/breaks/7").as_deref(),
            Some("https://clerk.example.com/breaks/7")
        );
        let eur: Currency = "EUR".parse().unwrap();
        let jpy: Currency = "JPY".parse().unwrap();
        assert!(s.approval.needs_approval(eur, Decimal::new(-100001, 2)));
        assert!(!s.approval.needs_approval(eur, Decimal::new(100000, 2)));
        assert!(!s.approval.needs_approval(jpy, Decimal::new(100000, 0)));
    }

    #[test]
    fn mistakes_name_their_key() {
        let (_, errors) = load(
            "[http]\nlisten = \"localhost\"\npublic_url = \"clerk.example.com\"\n\
             user_header = \"X-Remote-User\"\nsession_idle = \"500ms\"\n",
        );
        let keys: Vec<_> = errors.iter().filter_map(|e| e.key.clone()).collect();
        assert_eq!(
            keys,
            [
                "http.listen",
                "http.public_url",
                "http.session_idle",
                "http.user_header"
            ]
        );
    }
}
