//! The `provision` command: users with unique mobile numbers through the Graph-compatible
//! API, ready for SMS sign-in, and a users file for `api`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use textid_core::methods::PhoneType;
use textid_core::PhoneNumber;

/// Graph's well-known id of the `mobile` phone method.
const MOBILE_METHOD_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";

/// Options of `provision`.
#[derive(Debug, clap::Args)]
pub struct ProvisionArgs {
    /// Base URL of the textid deployment.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Tenant whose token endpoint issues the admin token.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Client id of an app with User.ReadWrite.All and UserAuthenticationMethod.ReadWrite.All
    /// (and Policy.ReadWrite.AuthenticationMethod for --policy).
    #[arg(long, env = "BENCH_CLIENT_ID")]
    pub client_id: String,
    /// Its client secret.
    #[arg(long, env = "BENCH_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// How many users.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Leading digits of every number, in international form; the rest is a counter of the
    /// width that makes valid numbers. The default (+1 425 555 xxxx, NANP's 555 exchange)
    /// has room for 10 000, so beyond 10 000 users the default is +12062 (room for a
    /// million); others: +1206555, +61491570 (1000 numbers).
    #[arg(long)]
    pub prefix: Option<String>,
    /// First value of the counter.
    #[arg(long, default_value_t = 0)]
    pub first: u64,
    /// Domain of the generated userPrincipalNames (bench-{digits}@DOMAIN).
    #[arg(long, default_value = "bench.textid.example")]
    pub upn_domain: String,
    /// Requests at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Enable the SMS method (usable for sign-in, all users) in the policy first.
    #[arg(long)]
    pub policy: bool,
    /// Where to write the numbers (E.164, one a line).
    #[arg(long, default_value = "users.txt")]
    pub out: PathBuf,
}

/// The prefix whose numbers hold `users` of them: NANP's 555 exchange of area 425 up to its
/// 10 000 lines, area 206's 2xx exchanges beyond.
pub fn default_prefix(users: usize) -> &'static str {
    if users <= 10_000 {
        "+1425555"
    } else {
        "+12062"
    }
}

/// `count` numbers `prefix` + a zero-padded counter from `first`, in E.164, each valid
/// for libphonenumber and allowed as a `mobile` method by textid's rules. The counter's
/// width is the smallest that holds `first + count - 1` and makes valid numbers.
pub fn generate(prefix: &str, first: u64, count: usize) -> Result<Vec<String>> {
    let digits: String = prefix
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let Some(rest) = digits.strip_prefix('+') else {
        bail!("--prefix must start with + and the country code, e.g. +1425555");
    };
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--prefix '{prefix}' must be + and digits");
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let last = first + count as u64 - 1;
    let min_width = last.to_string().len();
    let valid = |n: &str| -> Result<String, String> {
        let parsed = PhoneNumber::parse(n, None).map_err(|e| e.to_string())?;
        PhoneType::Mobile
            .check_number(&parsed)
            .map_err(|e| e.to_string())?;
        Ok(parsed.e164())
    };
    let mut first_error = None;
    let max_width = (15usize.saturating_sub(rest.len())).max(min_width);
    for width in min_width..=max_width {
        let make = |i: u64| format!("{digits}{i:0width$}");
        match (valid(&make(first)), valid(&make(last))) {
            (Ok(_), Ok(_)) => {
                let mut out = Vec::with_capacity(count);
                for i in first..=last {
                    let n = make(i);
                    out.push(valid(&n).map_err(|e| {
                        anyhow!("{n} is not a valid mobile number: {e} (change --prefix)")
                    })?);
                }
                return Ok(out);
            }
            (Err(e), _) | (_, Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    bail!(
        "no counter of {min_width} to {max_width} digits after {prefix} gives {count} valid mobile numbers from {first} (the first refused: {}); try another --prefix, e.g. +1425555 or +61491570, or fewer users",
        first_error.unwrap_or_default()
    )
}

struct Admin {
    http: reqwest::Client,
    graph: String,
    token: String,
}

impl Admin {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.graph))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }
}

/// What became of one user.
enum Outcome {
    Created { ready: bool },
    Existed { ready: bool },
}

fn upn_of(e164: &str, domain: &str) -> String {
    format!("bench-{}@{domain}", e164.trim_start_matches('+'))
}

async fn provision_one(admin: &Admin, e164: &str, domain: &str) -> Result<Outcome> {
    let upn = upn_of(e164, domain);
    let (status, user) = admin
        .send(
            reqwest::Method::POST,
            "/users",
            Some(json!({
                "userPrincipalName": upn,
                "displayName": format!("Bench {e164}"),
                "accountEnabled": true,
            })),
        )
        .await?;
    let existed = match status {
        201 => false,
        400 if user.to_string().contains("already exists") => true,
        _ => bail!("POST /v1.0/users {upn}: {status} {user}"),
    };
    let key = match user["id"].as_str() {
        Some(id) if !existed => id.to_string(),
        _ => upn.clone(),
    };
    let path = format!("/users/{key}/authentication/phoneMethods");
    let (status, method) = admin
        .send(
            reqwest::Method::POST,
            &path,
            Some(json!({"phoneNumber": e164, "phoneType": "mobile"})),
        )
        .await?;
    let method = match status {
        201 => method,
        _ if existed => {
            // A rerun: the user may have the number already.
            let (s, current) = admin
                .send(
                    reqwest::Method::GET,
                    &format!("{path}/{MOBILE_METHOD_ID}"),
                    None,
                )
                .await?;
            let same = s == 200
                && current["phoneNumber"]
                    .as_str()
                    .and_then(|n| PhoneNumber::parse(n, None).ok())
                    .is_some_and(|n| n.e164() == e164);
            if !same {
                bail!("POST /v1.0{path} {e164}: {status} {method}");
            }
            current
        }
        _ => bail!("POST /v1.0{path} {e164}: {status} {method}"),
    };
    let ready = method["smsSignInState"] == "ready";
    Ok(if existed {
        Outcome::Existed { ready }
    } else {
        Outcome::Created { ready }
    })
}

/// Gets an admin token with the client credentials grant.
async fn token(http: &reqwest::Client, args: &ProvisionArgs, target: &str) -> Result<String> {
    let url = format!("{target}/{}/oauth2/v2.0/token", args.tenant);
    let scope = format!("{target}/.default");
    let resp = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", args.client_id.as_str()),
            ("client_secret", args.client_secret.as_str()),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("token request to {url}: {status} {body}");
    }
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("token response without access_token: {body}"))
}

/// Runs `provision`.
pub async fn run(args: ProvisionArgs) -> Result<()> {
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| default_prefix(args.users).into());
    let numbers = generate(&prefix, args.first, args.users)?;
    let target = args.target.trim_end_matches('/').to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1) * 2)
        .timeout(Duration::from_secs(60))
        .build()?;
    let token = token(&http, &args, &target).await?;
    let admin = Arc::new(Admin {
        http,
        graph: format!("{target}/v1.0"),
        token,
    });

    if args.policy {
        let (status, body) = admin
            .send(
                reqwest::Method::PATCH,
                "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms",
                Some(json!({
                    "@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration",
                    "state": "enabled",
                    "includeTargets": [{
                        "targetType": "group",
                        "id": "all_users",
                        "isUsableForSignIn": true,
                    }],
                })),
            )
            .await?;
        if !(200..300).contains(&status) {
            bail!("enabling the SMS policy: {status} {body}");
        }
        println!("SMS policy enabled for all users (usable for sign-in)");
    }

    let started = Instant::now();
    let Some(first) = numbers.first() else {
        bail!("--users must be at least 1");
    };
    // The first one alone: a refused number or missing permission stops here, not 1000 times.
    let mut created = 0usize;
    let mut existed = 0usize;
    let mut not_ready = Vec::new();
    let tally = |o: Outcome,
                 n: &str,
                 created: &mut usize,
                 existed: &mut usize,
                 not_ready: &mut Vec<String>| {
        let ready = match o {
            Outcome::Created { ready } => {
                *created += 1;
                ready
            }
            Outcome::Existed { ready } => {
                *existed += 1;
                ready
            }
        };
        if !ready {
            not_ready.push(n.to_string());
        }
    };
    let o = provision_one(&admin, first, &args.upn_domain)
        .await
        .context("provisioning the first user (a 400 for the number means --prefix makes numbers the server refuses)")?;
    tally(o, first, &mut created, &mut existed, &mut not_ready);

    let numbers = Arc::new(numbers);
    let next = Arc::new(AtomicUsize::new(1));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (admin, numbers, next) = (admin.clone(), numbers.clone(), next.clone());
        let domain = args.upn_domain.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(n) = numbers.get(i) else {
                    return Ok::<_, anyhow::Error>(done);
                };
                done.push((i, provision_one(&admin, n, &domain).await?));
            }
        });
    }
    while let Some(result) = workers.join_next().await {
        for (i, o) in result.context("a provisioning task failed")?? {
            let n = numbers.get(i).map(String::as_str).unwrap_or_default();
            tally(o, n, &mut created, &mut existed, &mut not_ready);
        }
    }

    let mut text = numbers.join("\n");
    text.push('\n');
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{} users ({created} created, {existed} already there) in {:.1} s; numbers {} .. {} written to {}",
        numbers.len(),
        started.elapsed().as_secs_f64(),
        numbers.first().map(String::as_str).unwrap_or_default(),
        numbers.last().map(String::as_str).unwrap_or_default(),
        args.out.display()
    );
    if !not_ready.is_empty() {
        bail!(
            "{} numbers are not ready for SMS sign-in (e.g. {}): enable the SMS policy (--policy)",
            not_ready.len(),
            not_ready[0]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_prefix_has_room_for_the_users_asked() {
        assert_eq!(default_prefix(10_000), "+1425555");
        let p = default_prefix(1_000_000);
        // A million numbers take six digits after it: the last one is valid too.
        assert_eq!(generate(p, 999_999, 1).unwrap(), vec!["+12062999999"]);
        let n = generate(p, 0, 20_000).unwrap();
        assert_eq!(n.first().unwrap(), "+12062000000");
        assert_eq!(n.last().unwrap(), "+12062019999");
    }

    #[test]
    fn numbers_fill_the_prefix_to_a_valid_length() {
        let n = generate("+1425555", 0, 3).unwrap();
        assert_eq!(n, vec!["+14255550000", "+14255550001", "+14255550002"]);
        let n = generate("+1 206 555", 100, 2).unwrap();
        assert_eq!(n, vec!["+12065550100", "+12065550101"]);
        // Australia's fictional mobile range 0491 570 xxx.
        let au = generate("+61491570", 0, 1000).unwrap();
        assert_eq!(au.first().unwrap(), "+61491570000");
        assert_eq!(au.last().unwrap(), "+61491570999");
        let all = generate("+1425555", 0, 10_000).unwrap();
        let mut unique = all.clone();
        unique.dedup();
        assert_eq!(unique.len(), 10_000);
    }

    #[test]
    fn impossible_requests_are_refused() {
        assert!(generate("+1425555", 0, 10_001).is_err(), "no 5-digit room");
        // Ofcom's drama range 07700 900xxx is not a valid mobile range for libphonenumber.
        assert!(generate("+447700900", 0, 10).is_err());
        assert!(generate("1425555", 0, 1).is_err());
        assert!(generate("+1abc", 0, 1).is_err());
        assert!(generate("+1425555", 0, 0).unwrap().is_empty());
    }

    #[test]
    fn principal_names_come_from_the_number() {
        assert_eq!(
            upn_of("+14255550101", "bench.textid.example"),
            "bench-14255550101@bench.textid.example"
        );
    }
}
