//! `textid client` and `textid keys`: apps and signing keys of the OpenID Connect provider.

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use textid_oidc::{Algorithm, ClientType};
use textid_server::oidc::clients::{self, GrantType, NewClient};
use textid_store::Actor;

use super::output::print_json;
use super::{Context, UsageError};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an app. A confidential client's secret is printed once.
    Create {
        /// Display name (shown on the sign-in page).
        #[arg(long)]
        name: String,
        /// confidential (has a secret) or public (PKCE only, e.g. a single-page or mobile app).
        #[arg(long = "type", default_value = "confidential")]
        client_type: String,
        /// An exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// An exact post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// authorization_code, refresh_token or client_credentials (repeat; default the first two).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// ID token algorithm: RS256 (default), ES256 or EdDSA.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// An app role (Graph permission) for the admin API, e.g. User.ReadWrite.All (repeat).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A web origin (`https://app.contoso.example`) whose pages may call the token,
        /// userinfo and revocation endpoints (CORS; repeat). A public client's redirect
        /// URIs give theirs without this.
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
    /// Change an app's settings.
    Update {
        /// The client id.
        client_id: String,
        /// Replace the web origins allowed to call the token, userinfo and revocation
        /// endpoints (CORS; repeat). A public client's redirect URIs give theirs anyway.
        #[arg(long = "allowed-origin", conflicts_with = "clear_allowed_origins")]
        allowed_origins: Vec<String>,
        /// Remove every origin set with --allowed-origin.
        #[arg(long)]
        clear_allowed_origins: bool,
        /// Require a second factor for every password sign-in to this app (true/false).
        #[arg(long, action = clap::ArgAction::Set)]
        require_mfa: Option<bool>,
    },
    /// List registered apps.
    List,
    /// Set the app roles (Graph permissions) of an app for the admin API.
    Grant {
        /// The client id.
        client_id: String,
        /// Permissions, e.g. User.ReadWrite.All UserAuthenticationMethod.ReadWrite.All (none: revoke all).
        /// A permission taken away stops working at once, also for tokens already issued.
        roles: Vec<String>,
    },
    /// Disable an app: its sign-ins, token requests and tokens are refused at once.
    Disable {
        /// The client id.
        client_id: String,
    },
    /// Enable a disabled app again.
    Enable {
        /// The client id.
        client_id: String,
    },
    /// Delete an app; its tokens are refused at once and its refresh tokens revoked.
    Delete {
        /// The client id.
        client_id: String,
    },
    /// The app's client secret.
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Make a new secret (printed once); the old one keeps working for the overlap
    /// (`client_secret_overlap_seconds`, default 24 h), then is refused.
    Rotate {
        /// The client id.
        client_id: String,
        /// Overlap in seconds instead of the configured one (0: the old secret stops now).
        #[arg(long)]
        overlap_seconds: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Published signing keys.
    List,
    /// Make a new signing key for an algorithm; the old one stays published for overlap.
    Rotate {
        /// RS256, ES256 or EdDSA (default: all three).
        #[arg(long)]
        alg: Option<String>,
    },
}

fn client_json(c: &clients::Client) -> serde_json::Value {
    let r = &c.registration;
    json!({
        "clientId": c.client_id, "name": r.name, "type": r.client_type.as_str(),
        "redirectUris": r.redirect_uris, "postLogoutRedirectUris": r.post_logout_redirect_uris,
        "grantTypes": r.grant_types, "idTokenSignedResponseAlg": r.id_token_signed_response_alg, "roles": r.roles,
        "accountEnabled": !r.disabled, "allowedOrigins": r.allowed_origins,
        "webOrigins": c.web_origins(), "requireMfa": r.require_mfa,
    })
}

fn emit(cx: &Context, c: &clients::Client, human: impl FnOnce()) {
    if cx.json {
        print_json(&client_json(c));
    } else {
        human();
    }
}

pub async fn client(cx: &Context, cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Create {
            name,
            client_type,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            id_token_alg,
            roles,
            allowed_origins,
        } => {
            check_roles(&roles)?;
            let client_type = match client_type.as_str() {
                "confidential" => ClientType::Confidential,
                "public" => ClientType::Public,
                other => {
                    return Err(
                        UsageError(format!("--type {other}: use confidential or public")).into(),
                    )
                }
            };
            let grant_types = grants
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(|| UsageError(format!("--grant {g}: use authorization_code, refresh_token or client_credentials"))))
                .collect::<Result<Vec<_>, _>>()?;
            let id_token_alg = id_token_alg
                .map(|a| {
                    Algorithm::parse(&a).map_err(|_| {
                        UsageError(format!("--id-token-alg {a}: use RS256, ES256 or EdDSA"))
                    })
                })
                .transpose()?;
            let new = NewClient {
                name,
                client_type,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                id_token_alg,
                allowed_origins,
            };
            let (mut c, secret) = clients::register(&cx.app, &cx.tenant, new).await?;
            if !roles.is_empty() {
                c = clients::set_roles(&cx.app, &cx.tenant, &c.client_id, roles, &Actor::cli())
                    .await?;
            }
            let mut v = client_json(&c);
            if let Some(s) = &secret {
                v["clientSecret"] = json!(s);
            }
            if cx.json {
                print_json(&v);
            } else {
                crate::out!("registered app {} ({})", c.registration.name, c.client_id);
                if let Some(s) = secret {
                    crate::out!("client secret (shown once, store it now): {s}");
                }
            }
        }
        ClientCommand::Grant { client_id, roles } => {
            check_roles(&roles)?;
            let c =
                clients::set_roles(&cx.app, &cx.tenant, &client_id, roles, &Actor::cli()).await?;
            if cx.json {
                print_json(&client_json(&c));
            } else {
                crate::out!(
                    "{} now has: {}",
                    c.client_id,
                    c.registration.roles.join(", ")
                );
            }
        }
        ClientCommand::Update {
            client_id,
            allowed_origins,
            clear_allowed_origins,
            require_mfa,
        } => {
            if let Some(require) = require_mfa {
                let c = clients::set_require_mfa(
                    &cx.app,
                    &cx.tenant,
                    &client_id,
                    require,
                    &Actor::cli(),
                )
                .await?;
                if allowed_origins.is_empty() && !clear_allowed_origins {
                    emit(cx, &c, || {
                        crate::out!("app {} requires MFA: {}", c.client_id, require);
                    });
                    return Ok(());
                }
            }
            if allowed_origins.is_empty() && !clear_allowed_origins {
                return Err(UsageError(
                    "nothing to change: give --allowed-origin, --clear-allowed-origins or --require-mfa"
                        .into(),
                )
                .into());
            }
            let c = clients::set_allowed_origins(
                &cx.app,
                &cx.tenant,
                &client_id,
                &allowed_origins,
                &Actor::cli(),
            )
            .await?;
            emit(cx, &c, || {
                let origins: Vec<String> = c.web_origins().iter().map(|o| o.to_string()).collect();
                crate::out!(
                    "app {} accepts browser requests from: {}",
                    c.client_id,
                    if origins.is_empty() {
                        "no origin".to_string()
                    } else {
                        origins.join(", ")
                    }
                );
            });
        }
        ClientCommand::Disable { client_id } => {
            let c =
                clients::set_enabled(&cx.app, &cx.tenant, &client_id, false, &Actor::cli()).await?;
            emit(cx, &c, || crate::out!("disabled app {}", c.client_id));
        }
        ClientCommand::Enable { client_id } => {
            let c =
                clients::set_enabled(&cx.app, &cx.tenant, &client_id, true, &Actor::cli()).await?;
            emit(cx, &c, || crate::out!("enabled app {}", c.client_id));
        }
        ClientCommand::Delete { client_id } => {
            clients::delete(&cx.app, &cx.tenant, &client_id, &Actor::cli()).await?;
            if cx.json {
                print_json(&json!({"deleted": client_id}));
            } else {
                crate::out!("deleted app {client_id}");
            }
        }
        ClientCommand::Secret(SecretCommand::Rotate {
            client_id,
            overlap_seconds,
        }) => {
            let overlap = match overlap_seconds {
                Some(s) if s > 2_592_000 => {
                    return Err(UsageError(format!(
                        "--overlap-seconds {s}: at most 2592000 (30 days)"
                    ))
                    .into())
                }
                Some(s) => chrono::Duration::seconds(i64::from(s)),
                None => cx.secret_overlap,
            };
            let secret =
                clients::rotate_secret(&cx.app, &cx.tenant, &client_id, overlap, &Actor::cli())
                    .await?;
            let until = cx.app.clock().now() + overlap;
            if cx.json {
                print_json(&json!({
                    "clientId": client_id, "clientSecret": secret,
                    "previousSecretValidUntil": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }));
            } else {
                crate::out!("new client secret (shown once, store it now): {secret}");
                crate::out!(
                    "the previous secret works until {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
        ClientCommand::List => {
            let records = cx.app.store().list_clients(cx.tenant.id).await?;
            let list = records
                .into_iter()
                .map(clients::Client::from_record)
                .collect::<Result<Vec<_>, _>>()?;
            if cx.json {
                print_json(&json!({"value": list.iter().map(client_json).collect::<Vec<_>>()}));
            } else {
                for c in &list {
                    crate::out!(
                        "{}  {:12} {}  {}",
                        c.client_id,
                        c.registration.client_type.as_str(),
                        c.registration.name,
                        c.registration.redirect_uris.join(" ")
                    );
                }
            }
        }
    }
    Ok(())
}

fn check_roles(roles: &[String]) -> Result<()> {
    for r in roles {
        if !textid_server::graph::auth::PERMISSIONS.contains(&r.as_str()) {
            return Err(UsageError(format!(
                "unknown permission {r}; use one of {}",
                textid_server::graph::auth::PERMISSIONS.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

pub async fn keys(cx: &Context, cmd: KeysCommand) -> Result<()> {
    let oidc = cx.app.oidc()?;
    match cmd {
        KeysCommand::List => {}
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                Some(a) => vec![Algorithm::parse(&a)
                    .map_err(|_| UsageError(format!("--alg {a}: use RS256, ES256 or EdDSA")))?],
                None => Algorithm::ALL.to_vec(),
            };
            for alg in algs {
                let kid = textid_server::oidc::keys::rotate(
                    cx.app.store(),
                    oidc.kek(),
                    alg,
                    cx.app.clock().now(),
                )
                .await?;
                if !cx.json {
                    crate::out!("new {} key {kid}", alg.as_str());
                }
            }
            oidc.reload(&cx.app).await?;
        }
    }
    let keys = oidc.keys().describe();
    if cx.json {
        print_json(
            &json!({"value": keys.iter().map(|(kid, alg, active)| json!({"kid": kid, "alg": alg, "active": active})).collect::<Vec<_>>()}),
        );
    } else {
        for (kid, alg, active) in keys {
            crate::out!(
                "{kid}  {:6} {}",
                alg.as_str(),
                if active {
                    "active"
                } else {
                    "previous (still published)"
                }
            );
        }
    }
    Ok(())
}
