//! `textid import FILE`: users with their phone numbers from CSV or JSON lines, checked
//! as a whole and written in one transaction (issue #20's bulk provisioning).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use serde_json::json;
use textid_store::Actor;
use textid_usecases::import::{import_users, ImportError, ImportRecord};

use super::Context;

/// Columns of a CSV file and keys of a JSON line.
const FIELDS: &str = "userPrincipalName, displayName, accountEnabled, onPremisesSyncEnabled, mobile, alternateMobile, office";

/// How many problems an error lists before it says how many more there are.
const SHOWN: usize = 50;

/// `textid import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to read, or `-` for standard input. CSV with a header row, or JSON lines
    /// (one object per line), with the fields userPrincipalName and displayName
    /// (required), accountEnabled (default true), onPremisesSyncEnabled (default false:
    /// true marks users whose profile another directory owns), mobile, alternateMobile
    /// and office (phone numbers, E.164 or in the tenant's region). All rows are checked first;
    /// any problem refuses the whole file and lists the problems by line.
    pub file: PathBuf,
    /// The input format (default: from the file name, `.csv` or `.jsonl`/`.ndjson`).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// One row, as both formats spell it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Row {
    user_principal_name: String,
    display_name: String,
    #[serde(default, deserialize_with = "account_enabled")]
    account_enabled: Option<bool>,
    #[serde(default, deserialize_with = "on_premises_sync_enabled")]
    on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    mobile: Option<String>,
    #[serde(default)]
    alternate_mobile: Option<String>,
    #[serde(default)]
    office: Option<String>,
}

fn account_enabled<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    flag(d, "accountEnabled")
}

fn on_premises_sync_enabled<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<bool>, D::Error> {
    flag(d, "onPremisesSyncEnabled")
}

/// `true`/`false` as a JSON boolean or as CSV text (empty: the default).
fn flag<'de, D: serde::Deserializer<'de>>(d: D, field: &str) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Option::<Flag>::deserialize(d)? {
        None => Ok(None),
        Some(Flag::Bool(b)) => Ok(Some(b)),
        Some(Flag::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "{field} must be true or false"
            ))),
        },
    }
}

impl Row {
    fn record(self, line: u64) -> ImportRecord {
        ImportRecord {
            line,
            user_principal_name: self.user_principal_name,
            display_name: self.display_name,
            account_enabled: self.account_enabled.unwrap_or(true),
            on_premises_sync_enabled: self.on_premises_sync_enabled.unwrap_or(false),
            mobile: self.mobile,
            alternate_mobile: self.alternate_mobile,
            office: self.office,
        }
    }
}

pub async fn run(cx: &Context, args: ImportArgs) -> Result<()> {
    let format = match args.format {
        Some(f) => f,
        None => guess(&args.file)?,
    };
    let mut text = String::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
    }
    let records = match format {
        Format::Csv => csv_records(&text),
        Format::Jsonl => jsonl_records(&text),
    }
    .map_err(|problems| refused("row(s) cannot be read", &problems))?;
    match import_users(&cx.app, &cx.tenant, records, &Actor::cli()).await {
        Ok(n) => {
            if cx.json {
                super::output::print_json(&json!({"imported": n, "tenant": cx.tenant.name}));
            } else {
                crate::out!("imported {n} users into tenant {}", cx.tenant.name);
            }
            Ok(())
        }
        Err(ImportError::Refused(problems)) => {
            let lines: Vec<_> = problems
                .iter()
                .map(|p| format!("line {}: {}: {}", p.line, p.code, p.message))
                .collect();
            Err(refused("row(s) refused", &lines))
        }
        Err(e) => Err(e.into()),
    }
}

fn guess(file: &std::path::Path) -> Result<Format> {
    match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Ok(Format::Csv),
        Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
        _ => bail!(
            "cannot tell the format of {} from its name: pass --format csv or --format jsonl",
            file.display()
        ),
    }
}

/// The error that lists `problems` (the first [`SHOWN`]) and says nothing was imported.
fn refused(what: &str, problems: &[String]) -> anyhow::Error {
    let mut msg = format!("{} {what}; nothing was imported:", problems.len());
    for p in problems.iter().take(SHOWN) {
        msg.push_str("\n  ");
        msg.push_str(p);
    }
    if problems.len() > SHOWN {
        msg.push_str(&format!("\n  ... and {} more", problems.len() - SHOWN));
    }
    anyhow::anyhow!(msg)
}

fn csv_records(text: &str) -> Result<Vec<ImportRecord>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| vec![format!("line 1: invalidRow: {e}")])?
        .clone();
    let known: Vec<&str> = FIELDS.split(", ").collect();
    let unknown: Vec<_> = headers.iter().filter(|h| !known.contains(h)).collect();
    if !unknown.is_empty() {
        return Err(vec![format!(
            "line 1: unknownColumn: {} (the columns are {FIELDS})",
            unknown.join(", ")
        )]);
    }
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    for row in reader.deserialize::<Row>() {
        match row {
            Ok(r) => {
                // The header is line 1; a record's position says where it started.
                let line = records.len() as u64 + problems.len() as u64 + 2;
                records.push(r.record(line));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: invalidRow: {}", csv_reason(&e)));
            }
        }
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

/// A CSV error without its position (the line is printed before it).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths { len, .. } => {
            format!("{len} fields, not as many as the header row")
        }
        _ => e.to_string(),
    }
}

fn jsonl_records(text: &str) -> Result<Vec<ImportRecord>, Vec<String>> {
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    for (i, l) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Row>(l) {
            Ok(r) => records.push(r.record(line)),
            Err(e) => problems.push(format!(
                "line {line}: invalidRow: not a JSON object of the import fields: {}",
                json_reason(&e)
            )),
        }
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

/// A JSON error without serde's "at line 1 column N" (each line is its own document).
fn json_reason(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(at) => s[..at].to_string(),
        None => s,
    }
}
