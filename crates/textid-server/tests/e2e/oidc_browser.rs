//! A browser for the sign-in pages: its own cookie jar (so a second `Browser` is a second
//! browser, without the binding and session cookies of the first), redirects not followed
//! (each step's answer is looked at), forms posted as `application/x-www-form-urlencoded`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// An answer as the browser sees it.
#[derive(Debug)]
pub struct Page {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `Location` of a redirect, which must be one.
    pub fn location(&self) -> &str {
        assert_eq!(self.status, 303, "expected a redirect: {}", self.body);
        self.header("location").expect("a Location header")
    }

    /// The `<input ...>` tag whose name is `name`.
    pub fn input(&self, name: &str) -> &str {
        let at = self
            .body
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body));
        let start = self.body[..at].rfind("<input").expect("an <input tag");
        let end = at + self.body[at..].find('>').expect("the tag ends");
        &self.body[start..=end]
    }

    /// The `value` of the input named `name`.
    pub fn value(&self, name: &str) -> String {
        let tag = self.input(name);
        let at = tag.find("value=\"").expect("a value") + "value=\"".len();
        let len = tag[at..].find('"').expect("the value ends");
        tag[at..at + len].to_string()
    }
}

/// A browser: its own cookie jar, redirects not followed.
pub struct Browser {
    base: url::Url,
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    /// A fresh browser for the server at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            base: url::Url::parse(base).unwrap(),
            http: crate::oidc_helpers::client(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Puts a cookie into the jar (as a browser that ignored a deletion would).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.into(), value.into());
    }

    /// `GET` a path or URL.
    pub async fn get(&self, url: &str) -> Page {
        let request = self.http.get(self.base.join(url).unwrap());
        self.send(request).await
    }

    /// `POST` a form to a path or URL.
    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(self.base.join(url).unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form));
        self.send(request).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Page {
        let jar = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !jar.is_empty() {
            request = request.header("cookie", jar);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            self.store(set.to_str().unwrap());
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    fn store(&self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let (name, value) = parts
            .next()
            .and_then(|p| p.trim().split_once('='))
            .expect("name=value");
        let deleted = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        let mut jar = self.cookies.lock().unwrap();
        if deleted {
            jar.remove(name);
        } else {
            jar.insert(name.into(), value.into());
        }
    }
}

/// `application/x-www-form-urlencoded` text.
pub fn form_body(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}
