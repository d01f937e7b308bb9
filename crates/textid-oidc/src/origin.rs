//! Web origins (RFC 6454) that may call the token, userinfo and revocation endpoints from a
//! browser (CORS). An origin is `scheme://host[:port]`, serialised the way browsers send it
//! in the `Origin` header (lower-case host, default port left out), so that an allowed
//! origin is compared with the header byte for byte.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::is_loopback;

/// A web origin accepted at client registration, in its serialised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebOrigin(String);

/// Why an origin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebOriginError {
    /// Not `scheme://host[:port]`.
    #[error("an origin is scheme://host[:port], e.g. https://app.contoso.example")]
    NotAnOrigin,
    /// Has a path, query, fragment or user information: an origin is less than a URL.
    #[error("an origin has no path, query, fragment or user information")]
    MoreThanAnOrigin,
    /// `http` to a host other than the loopback interface (as for redirect URIs).
    #[error("http origins are allowed only for 127.0.0.1, [::1] and localhost; use https")]
    HttpNotLoopback,
    /// A scheme other than http or https.
    #[error("an origin's scheme is https (or http on loopback)")]
    Scheme,
}

impl WebOrigin {
    /// Parses `https://host[:port]` (a trailing `/` is tolerated); `http` only on loopback.
    /// Host case and a default port are normalised away.
    pub fn parse(text: &str) -> Result<Self, WebOriginError> {
        let url = Url::parse(text).map_err(|_| WebOriginError::NotAnOrigin)?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url.host()) => {}
            "http" => return Err(WebOriginError::HttpNotLoopback),
            _ => return Err(WebOriginError::Scheme),
        }
        let bare = url.path() == "/" && !text.ends_with("//");
        if !bare
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(WebOriginError::MoreThanAnOrigin);
        }
        Ok(Self(url.origin().ascii_serialization()))
    }

    /// The web origin of a redirect URI (`https://app.example/cb` → `https://app.example`),
    /// if it has one that a browser page could send: `None` for a native app's private-use
    /// scheme (RFC 8252 §7.1) and for anything [`WebOrigin::parse`] would refuse.
    pub fn of_redirect_uri(uri: &str) -> Option<Self> {
        let url = Url::parse(uri).ok()?;
        let origin = url.origin();
        if !origin.is_tuple() {
            return None;
        }
        Self::parse(&origin.ascii_serialization()).ok()
    }

    /// The serialised origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebOrigin {
    type Error = WebOriginError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<WebOrigin> for String {
    fn from(o: WebOrigin) -> Self {
        o.0
    }
}

impl fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        for (given, want) in [
            ("https://app.example", "https://app.example"),
            ("https://app.example/", "https://app.example"),
            ("https://APP.Example:443", "https://app.example"),
            ("https://app.example:8443", "https://app.example:8443"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("http://localhost:3000/", "http://localhost:3000"),
            ("http://[::1]:80", "http://[::1]"),
        ] {
            assert_eq!(WebOrigin::parse(given).unwrap().as_str(), want, "{given}");
        }
    }

    #[test]
    fn anything_more_or_less_than_an_origin_is_refused() {
        use WebOriginError::*;
        for (given, want) in [
            ("", NotAnOrigin),
            ("app.example", NotAnOrigin),
            ("https://app.example/cb", MoreThanAnOrigin),
            ("https://app.example?x=1", MoreThanAnOrigin),
            ("https://app.example#x", MoreThanAnOrigin),
            ("https://u:p@app.example", MoreThanAnOrigin),
            ("http://app.example", HttpNotLoopback),
            ("com.example.app:/cb", Scheme),
            ("null", NotAnOrigin),
            ("*", NotAnOrigin),
        ] {
            assert_eq!(WebOrigin::parse(given), Err(want), "{given:?}");
        }
    }

    #[test]
    fn a_redirect_uri_gives_its_web_origin_and_a_native_one_none() {
        let o = |u: &str| WebOrigin::of_redirect_uri(u).map(|o| o.to_string());
        assert_eq!(
            o("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            o("http://127.0.0.1:4000/callback").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(o("com.example.app:/oauth"), None);
        assert_eq!(o("myapp://callback"), None);
    }
}
