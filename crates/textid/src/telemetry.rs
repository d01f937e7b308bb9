//! OpenTelemetry traces (issue #19): whether `textid serve` exports its spans, where to,
//! and the `tracing` layers that do it.
//!
//! Off by default: without an OTLP endpoint in the environment no exporter is built and
//! nothing leaves the process. The standard variables turn it on
//! (<https://opentelemetry.io/docs/specs/otel/protocol/exporter/>):
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (a base URL; traces go to `{base}/v1/traces`), `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`,
//! `OTEL_SERVICE_NAME` (default `textid`), `OTEL_SDK_DISABLED=true`,
//! `OTEL_TRACES_EXPORTER=none`; the SDK itself reads `OTEL_TRACES_SAMPLER[_ARG]`,
//! `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`, `OTEL_BSP_*` and `OTEL_RESOURCE_ATTRIBUTES`.
//! Only OTLP over HTTP with protobuf bodies is built in: `grpc` and `http/json` are
//! refused at startup rather than silently exporting nothing.
//!
//! Invariant: only spans of textid's own crates are exported, never events. The span
//! fields are an allow-list (`textid_server::trace`); a log line's fields (the console
//! provider's message body, an error's cause) stay in the local log.

use anyhow::{bail, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The service name when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "textid";

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Telemetry {
    /// Nothing is exported; the variable that decided it, if any.
    Off(Option<&'static str>),
    /// Spans are exported over OTLP/HTTP.
    On(Exporter),
}

/// Where and as what spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporter {
    /// The full URL spans are POSTed to.
    pub endpoint: String,
    /// The variable the endpoint came from.
    pub endpoint_var: &'static str,
    /// `service.name` of the resource.
    pub service_name: String,
    /// The names of the extra request headers (their values may be credentials).
    pub header_names: Vec<String>,
}

const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

impl Telemetry {
    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self> {
        Self::from_env(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `var`; an error names the variable and what to fix.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        // Empty counts as unset (OpenTelemetry configuration spec, "Parsing empty value").
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(Self::Off(Some("OTEL_SDK_DISABLED")));
        }
        match var("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(Self::Off(Some("OTEL_TRACES_EXPORTER"))),
            Some(other) => bail!(
                "OTEL_TRACES_EXPORTER={other}: textid exports traces with otlp only; set otlp or none"
            ),
        }
        let (endpoint, endpoint_var) = if let Some(url) = var(TRACES_ENDPOINT) {
            (url, TRACES_ENDPOINT)
        } else if let Some(base) = var(ENDPOINT) {
            (
                format!("{}/v1/traces", base.trim_end_matches('/')),
                ENDPOINT,
            )
        } else {
            return Ok(Self::Off(None));
        };
        check_endpoint(&endpoint, endpoint_var)?;
        for key in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(p) = var(key) {
                check_protocol(&p, key)?;
                break;
            }
        }
        let header_names = match [
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ]
        .into_iter()
        .find_map(|k| var(k).map(|v| (k, v)))
        {
            Some((key, list)) => header_names(&list, key)?,
            None => Vec::new(),
        };
        Ok(Self::On(Exporter {
            endpoint,
            endpoint_var,
            service_name: var("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string()),
            header_names,
        }))
    }

    /// `config check`'s row: the state and the variable it comes from (`default` when
    /// none decided it). An endpoint's user and password are not shown.
    pub fn describe(&self) -> (String, String) {
        match self {
            Self::Off(None) => ("off".into(), "default".into()),
            Self::Off(Some(var)) => ("off".into(), format!("env {var}")),
            Self::On(e) => {
                let mut shown = format!(
                    "otlp http/protobuf {} service={}",
                    without_credentials(&e.endpoint),
                    e.service_name
                );
                if !e.header_names.is_empty() {
                    shown.push_str(&format!(" headers={}", e.header_names.join(",")));
                }
                (shown, format!("env {}", e.endpoint_var))
            }
        }
    }

    /// The tracer provider that batches spans to the exporter (on its own thread), or
    /// `None` when off. Shut it down to send what is still queued.
    pub fn provider(&self) -> Result<Option<SdkTracerProvider>> {
        let Self::On(e) = self else {
            return Ok(None);
        };
        // The headers and timeout are read by the exporter from the same variables.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(e.endpoint.clone())
            .build()
            .map_err(|err| {
                anyhow::anyhow!("{}: cannot build the OTLP exporter: {err}", e.endpoint_var)
            })?;
        let resource = Resource::builder()
            .with_service_name(e.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        ))
    }
}

/// The `tracing` layer that turns textid's spans into OpenTelemetry spans.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("textid"))
        // Attributes are the span's own fields and nothing else.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(tracing_subscriber::filter::filter_fn(exported))
}

/// Spans of textid's crates at `INFO` or above; no event (a log line's fields may hold
/// a number or a code), no dependency's span.
fn exported(m: &tracing::Metadata<'_>) -> bool {
    m.is_span() && m.target().starts_with("textid") && *m.level() <= tracing::Level::INFO
}

fn check_endpoint(url: &str, var: &str) -> Result<()> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => bail!(
            "{var}: '{}' is not an http:// or https:// URL with a host, e.g. http://otel-collector:4318",
            without_credentials(url)
        ),
    }
}

fn check_protocol(protocol: &str, var: &str) -> Result<()> {
    match protocol {
        "http/protobuf" => Ok(()),
        "grpc" | "http/json" => bail!(
            "{var}={protocol}: textid exports OTLP over HTTP with protobuf only; set http/protobuf (or unset it) and point the endpoint at the collector's OTLP/HTTP port (4318)"
        ),
        other => bail!("{var}={other}: unknown protocol; textid supports http/protobuf"),
    }
}

/// The names of a `key=value,key=value` list (W3C Baggage form, values URL-encoded).
fn header_names(list: &str, var: &str) -> Result<Vec<String>> {
    list.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .enumerate()
        .map(|(i, pair)| {
            let name = pair.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                // The value is not quoted: it is likely a credential.
                bail!("{var}: entry {} is not name=value (names are HTTP header names, values URL-encoded)", i + 1);
            }
            Ok(name.to_ascii_lowercase())
        })
        .collect()
}

fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "<not a URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Telemetry> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Telemetry::from_env(move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn on(pairs: &[(&str, &str)]) -> Exporter {
        match env(pairs).unwrap() {
            Telemetry::On(e) => e,
            off => panic!("{pairs:?}: {off:?}"),
        }
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(env(&[]).unwrap(), Telemetry::Off(None));
        assert_eq!(env(&[(ENDPOINT, " ")]).unwrap(), Telemetry::Off(None));
        assert_eq!(
            env(&[("OTEL_SERVICE_NAME", "x")]).unwrap(),
            Telemetry::Off(None)
        );
        assert_eq!(
            env(&[(ENDPOINT, "http://c:4318"), ("OTEL_SDK_DISABLED", "TRUE")]).unwrap(),
            Telemetry::Off(Some("OTEL_SDK_DISABLED"))
        );
        assert_eq!(
            env(&[
                (ENDPOINT, "http://c:4318"),
                ("OTEL_TRACES_EXPORTER", "none")
            ])
            .unwrap(),
            Telemetry::Off(Some("OTEL_TRACES_EXPORTER"))
        );
        // Only "true" disables (OpenTelemetry configuration spec, booleans).
        assert!(matches!(
            env(&[(ENDPOINT, "http://c:4318"), ("OTEL_SDK_DISABLED", "false")]).unwrap(),
            Telemetry::On(_)
        ));
        assert_eq!(
            env(&[]).unwrap().describe(),
            ("off".into(), "default".into())
        );
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_is() {
        let e = on(&[(ENDPOINT, "http://collector:4318/")]);
        assert_eq!(e.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(e.endpoint_var, ENDPOINT);
        assert_eq!(e.service_name, "textid");
        let e = on(&[
            (ENDPOINT, "http://ignored:4318"),
            (TRACES_ENDPOINT, "https://otlp.example/custom/path"),
            ("OTEL_SERVICE_NAME", "textid-eu"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(e.endpoint, "https://otlp.example/custom/path");
        assert_eq!(e.endpoint_var, TRACES_ENDPOINT);
        assert_eq!(
            Telemetry::On(e).describe(),
            (
                "otlp http/protobuf https://otlp.example/custom/path service=textid-eu".into(),
                format!("env {TRACES_ENDPOINT}")
            )
        );
    }

    #[test]
    fn header_values_and_endpoint_credentials_are_never_shown() {
        let e = on(&[
            (ENDPOINT, "https://user:pa55@otlp.example"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Api-Key=s3cr3t%20v, x-tenant=blue",
            ),
        ]);
        assert_eq!(e.header_names, ["api-key", "x-tenant"]);
        let (shown, _) = Telemetry::On(e).describe();
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("pa55"),
            "{shown}"
        );
        assert!(shown.contains("headers=api-key,x-tenant"), "{shown}");
        // The traces-specific list wins over the general one.
        let e = on(&[
            (ENDPOINT, "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
        ]);
        assert_eq!(e.header_names, ["b"]);
    }

    #[test]
    fn bad_settings_name_the_variable_and_what_to_do() {
        let err = |pairs: &[(&str, &str)]| format!("{:#}", env(pairs).unwrap_err());
        let e = err(&[
            (ENDPOINT, "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert!(
            e.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc") && e.contains("http/protobuf"),
            "{e}"
        );
        let e = err(&[
            (ENDPOINT, "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ]);
        assert!(
            e.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json"),
            "{e}"
        );
        let e = err(&[(ENDPOINT, "collector:4318")]);
        assert!(e.starts_with(ENDPOINT) && e.contains("http://"), "{e}");
        let e = err(&[(TRACES_ENDPOINT, "ftp://u:secret@c/x")]);
        assert!(
            e.starts_with(TRACES_ENDPOINT) && !e.contains("secret"),
            "{e}"
        );
        let e = err(&[
            (ENDPOINT, "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,s3cr3t"),
        ]);
        assert!(e.contains("entry 2") && !e.contains("s3cr3t"), "{e}");
        let e = err(&[
            (ENDPOINT, "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ]);
        assert!(e.contains("otlp or none"), "{e}");
    }
}
