//! The `oidc` scenario: complete OpenID Connect sign-ins through the sign-in pages, as a
//! browser and an app would make them: authorize with PKCE (S256) → the phone page →
//! post the number → the code page → the code from the bench's webhook receiver → post the
//! code → the redirect to the app with `code` and `state` → the token request. Each
//! sign-in is a new browser (its own cookies), so no SSO session shortens it. Every
//! `--verify-every`th ID token is verified against the deployment's JWKS (signature with
//! the key its `kid` names, `iss`, `aud`, `exp`, `nonce`) with `jsonwebtoken`.

use std::collections::HashMap;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use rand::RngCore;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api::{http_error, transport_error, us, Ctx, Sample};

/// What the OIDC scenario needs besides the API scenario's context.
pub struct Oidc {
    /// `{target}/{tenant}/oauth2/v2.0/authorize`.
    pub authorize_url: String,
    /// `{target}/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// The deployment's base URL (for the pages' relative redirects).
    pub target: String,
    /// The public client's id.
    pub client_id: String,
    /// Its registered redirect URI (never requested: the bench reads the redirect).
    pub redirect_uri: String,
    /// The issuer, from discovery.
    pub issuer: String,
    /// Verification keys by `kid`.
    pub keys: HashMap<String, (DecodingKey, jsonwebtoken::Algorithm)>,
    /// Verify one ID token in this many (0: none).
    pub verify_every: u64,
    /// Sign-ins started, to pick the ones verified.
    pub started: std::sync::atomic::AtomicU64,
}

/// Discovery, then the JWKS: the issuer and every signing key.
pub async fn discover(
    http: &reqwest::Client,
    target: &str,
    tenant: &str,
) -> anyhow::Result<(
    String,
    HashMap<String, (DecodingKey, jsonwebtoken::Algorithm)>,
)> {
    let doc: Value = http
        .get(format!(
            "{target}/{tenant}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let issuer = doc["issuer"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("discovery has no issuer"))?
        .to_string();
    let jwks_uri = doc["jwks_uri"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("discovery has no jwks_uri"))?;
    // The JWKS as the deployment names it, but fetched from the target (the public URL may
    // not resolve from the bench's machine).
    let path = url::Url::parse(jwks_uri)?.path().to_string();
    let set: JwkSet = http
        .get(format!("{target}{path}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), jwk.common.key_algorithm) else {
            continue;
        };
        let alg: jsonwebtoken::Algorithm = alg.to_string().parse()?;
        keys.insert(kid, (DecodingKey::from_jwk(jwk)?, alg));
    }
    if keys.is_empty() {
        anyhow::bail!("the JWKS at {path} has no key with a kid and an alg");
    }
    Ok((issuer, keys))
}

/// A browser's cookies for one sign-in.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all("set-cookie") {
            let Ok(set) = set.to_str() else { continue };
            let mut parts = set.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
                continue;
            };
            let deleted = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            self.0.retain(|(k, _)| k != name);
            if !deleted {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }
}

/// The value of the hidden input `name` in a page.
fn input_value(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let start = page[..at].rfind("<input")?;
    let end = at + page[at..].find('>')?;
    let tag = &page[start..=end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let len = tag[v..].find('"')?;
    Some(tag[v..v + len].to_string())
}

fn random_b64(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

#[derive(Deserialize)]
struct Tokens {
    id_token: String,
}

#[derive(Deserialize)]
struct IdClaims {
    nonce: Option<String>,
}

impl Oidc {
    async fn get(
        &self,
        ctx: &Ctx,
        jar: &mut Jar,
        url: &str,
        step: &str,
    ) -> Result<reqwest::Response, String> {
        let mut req = ctx.http.get(self.absolute(url));
        if !jar.0.is_empty() {
            req = req.header("cookie", jar.header());
        }
        let resp = req.send().await.map_err(|e| transport_error(step, &e))?;
        jar.keep(&resp);
        Ok(resp)
    }

    async fn post(
        &self,
        ctx: &Ctx,
        jar: &mut Jar,
        url: &str,
        form: &[(&str, &str)],
        step: &str,
    ) -> Result<reqwest::Response, String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = ctx
            .http
            .post(self.absolute(url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if !jar.0.is_empty() {
            req = req.header("cookie", jar.header());
        }
        let resp = req.send().await.map_err(|e| transport_error(step, &e))?;
        jar.keep(&resp);
        Ok(resp)
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}{url}", self.target)
        }
    }

    fn verify(&self, id_token: &str, nonce: &str) -> Result<(), String> {
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|e| format!("id_token header {e}"))?;
        let kid = header.kid.ok_or("id_token without kid")?;
        let (key, alg) = self
            .keys
            .get(&kid)
            .ok_or_else(|| format!("id_token kid {kid} not in the JWKS"))?;
        if header.alg != *alg {
            return Err(format!("id_token alg {:?} is not its key's", header.alg));
        }
        let mut validation = Validation::new(*alg);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&[&self.issuer]);
        let data = jsonwebtoken::decode::<IdClaims>(id_token, key, &validation)
            .map_err(|e| format!("id_token invalid: {e}"))?;
        if data.claims.nonce.as_deref() != Some(nonce) {
            return Err("id_token nonce differs".into());
        }
        Ok(())
    }
}

fn location(resp: &reqwest::Response, step: &str) -> Result<String, String> {
    if !resp.status().is_redirection() {
        return Err(format!("{step} {} no-redirect", resp.status().as_u16()));
    }
    resp.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("{step} no-location"))
}

async fn page(resp: reqwest::Response, step: &str) -> Result<String, String> {
    if resp.status().as_u16() != 200 {
        return Err(http_error(step, resp).await);
    }
    resp.text().await.map_err(|e| transport_error(step, &e))
}

/// One complete OIDC sign-in of `number`; the sample's steps are authorize (to the phone
/// page), phone (post → the code page), code wait, code (post → the app's redirect),
/// token.
pub async fn sign_in(ctx: &Ctx, o: &Oidc, number: &str) -> Result<Sample, String> {
    let mut jar = Jar::default();
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_b64(12);
    let nonce = random_b64(12);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", o.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", o.redirect_uri.as_str()),
            ("scope", "openid profile"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .finish();

    let t0 = Instant::now();
    let resp = o
        .get(
            ctx,
            &mut jar,
            &format!("{}?{query}", o.authorize_url),
            "authorize",
        )
        .await?;
    let login = location(&resp, "authorize")?;
    let resp = o.get(ctx, &mut jar, &login, "login-page").await?;
    let body = page(resp, "login-page").await?;
    let request = input_value(&body, "request").ok_or("login-page no-request")?;
    let csrf = input_value(&body, "csrf").ok_or("login-page no-csrf")?;
    let t1 = Instant::now();

    // Registered before the number is posted: the message may arrive before the page.
    let rx = ctx.waiters.wait_for(number);
    let path = login.split('?').next().unwrap_or(&login).to_string();
    let resp = match o
        .post(
            ctx,
            &mut jar,
            &path,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("phoneNumber", number),
            ],
            "phone",
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            ctx.waiters.forget(number);
            return Err(e);
        }
    };
    let code_page = match location(&resp, "phone") {
        Ok(l) => l,
        Err(e) => {
            ctx.waiters.forget(number);
            return Err(e);
        }
    };
    let resp = o.get(ctx, &mut jar, &code_page, "code-page").await?;
    page(resp, "code-page").await?;
    let t2 = Instant::now();

    let delivered = ctx.code_for(number, rx).await?;
    let t3 = Instant::now();

    let code_path = code_page
        .split('?')
        .next()
        .unwrap_or(&code_page)
        .to_string();
    let resp = o
        .post(
            ctx,
            &mut jar,
            &code_path,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("code", &delivered.code),
            ],
            "code",
        )
        .await?;
    let back = location(&resp, "code")?;
    let back = url::Url::parse(&back).map_err(|_| "code bad-redirect".to_string())?;
    let params: HashMap<_, _> = back.query_pairs().into_owned().collect();
    if params.get("state") != Some(&state) {
        return Err("code state-differs".into());
    }
    let auth_code = params
        .get("code")
        .ok_or_else(|| format!("code no-code {}", params.get("error").map_or("", |e| e)))?;
    let t4 = Instant::now();

    let resp = o
        .post(
            ctx,
            &mut jar,
            &o.token_url,
            &[
                ("grant_type", "authorization_code"),
                ("code", auth_code),
                ("redirect_uri", &o.redirect_uri),
                ("code_verifier", &verifier),
                ("client_id", &o.client_id),
            ],
            "token",
        )
        .await?;
    if resp.status().as_u16() != 200 {
        return Err(http_error("token", resp).await);
    }
    let tokens: Tokens = resp
        .json()
        .await
        .map_err(|e| transport_error("token", &e))?;
    let t5 = Instant::now();
    let n = o.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if o.verify_every > 0 && n.is_multiple_of(o.verify_every) {
        o.verify(&tokens.id_token, &nonce)?;
    }
    Ok(Sample {
        steps: vec![
            us(t1 - t0),
            us(t2 - t1),
            us(t3 - t2),
            us(delivered.at.saturating_duration_since(t1)),
            us(t4 - t3),
            us(t5 - t4),
        ],
        total: us(t5 - t0),
    })
}

/// The steps of an OIDC sample, as reported: label and JSON key.
pub const STEPS: &[(&str, &str)] = &[
    ("authorize (-> phone page)", "authorize"),
    ("phone (POST -> code page)", "phone"),
    ("code wait (code page -> code)", "code_wait"),
    ("code delivery (phone sent -> webhook)", "delivery"),
    ("code (POST -> redirect to app)", "code"),
    ("token (POST token -> 200)", "token"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_inputs_are_read_from_the_page() {
        let page = r#"<form><input type="hidden" name="request" value="r-1"><input type=hidden name="csrf" value="c2"></form>"#;
        assert_eq!(input_value(page, "request").as_deref(), Some("r-1"));
        assert_eq!(input_value(page, "csrf").as_deref(), Some("c2"));
        assert_eq!(input_value(page, "code"), None);
    }

    fn oidc(keys: HashMap<String, (DecodingKey, jsonwebtoken::Algorithm)>) -> Oidc {
        Oidc {
            authorize_url: String::new(),
            token_url: String::new(),
            target: String::new(),
            client_id: "app".into(),
            redirect_uri: String::new(),
            issuer: "https://id.example/default/v2.0".into(),
            keys,
            verify_every: 1,
            started: std::sync::atomic::AtomicU64::new(0),
        }
    }

    #[test]
    fn an_id_token_is_refused_unless_its_key_signature_and_claims_check_out() {
        let secret = DecodingKey::from_secret(b"k");
        let sign = |kid: &str, claims: serde_json::Value| {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.kid = Some(kid.into());
            jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(b"k"))
                .unwrap()
        };
        let o = oidc(HashMap::from([(
            "k1".to_string(),
            (secret, jsonwebtoken::Algorithm::HS256),
        )]));
        let good = serde_json::json!({"iss": o.issuer, "aud": "app", "exp": 4_102_444_800u64, "nonce": "n"});
        assert_eq!(o.verify(&sign("k1", good.clone()), "n"), Ok(()));
        assert!(
            o.verify(&sign("k1", good.clone()), "other").is_err(),
            "nonce"
        );
        assert!(
            o.verify(&sign("k2", good.clone()), "n").is_err(),
            "unknown kid"
        );
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = "someone".into();
        assert!(o.verify(&sign("k1", wrong_aud), "n").is_err(), "audience");
        let mut tampered = sign("k1", good);
        tampered.pop();
        assert!(o.verify(&tampered, "n").is_err(), "signature");
        assert!(o.verify("not a token", "n").is_err());
    }
}

/// Options of the `oidc` scenario: those of `api`, and the app.
#[derive(Debug, clap::Args)]
pub struct OidcArgs {
    #[command(flatten)]
    pub run: crate::api::ApiArgs,
    /// The public client (PKCE) the sign-ins are for (`textid client create --type public
    /// --redirect-uri URI [--id-token-alg ES256|RS256]`).
    #[arg(long)]
    pub client_id: String,
    /// One of its registered redirect URIs (never requested: the bench reads the redirect).
    #[arg(long)]
    pub redirect_uri: String,
    /// Verify one ID token in this many against the JWKS (0: none; 1: every one).
    #[arg(long, default_value_t = 10)]
    pub verify_every: u64,
}

/// Runs the scenario and prints the report.
pub async fn run(args: OidcArgs) -> anyhow::Result<()> {
    let OidcArgs {
        run,
        client_id,
        redirect_uri,
        verify_every,
    } = args;
    let target = run.target.trim_end_matches('/').to_string();
    let tenant = run.tenant.clone();
    let (issuer, keys) = discover(&reqwest::Client::new(), &target, &tenant).await?;
    let flow = crate::api::Flow::Oidc(Box::new(Oidc {
        authorize_url: format!("{target}/{tenant}/oauth2/v2.0/authorize"),
        token_url: format!("{target}/{tenant}/oauth2/v2.0/token"),
        target,
        client_id,
        redirect_uri,
        issuer,
        keys,
        verify_every,
        started: std::sync::atomic::AtomicU64::new(0),
    }));
    crate::api::run_flow(run, flow).await
}
