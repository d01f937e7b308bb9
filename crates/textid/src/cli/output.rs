//! Output: human lines by default, JSON with `--json` (the shapes are Graph's where Graph
//! has one, so scripts can share parsing with the admin API).
//!
//! Everything printed passes [`clean`] (through [`out!`](crate::out) or [`print_json`]):
//! names, numbers and log fields come from the database, where an attacker may have put
//! terminal escape sequences (ESC `[` … rewrites the operator's screen, hides lines,
//! or, in some terminals, writes files), carriage returns (overprint a line), or
//! bidirectional overrides and zero-width characters (make one name look like another).
//! They are shown escaped (`\u{1b}`), never raw.

use serde_json::{json, Value};
use textid_core::directory::{Group, User};
use textid_usecases::directory::PhoneMethodView;

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, bidirectional
/// embeddings, overrides and isolates, zero-width characters and the byte-order mark.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2028}'..='\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `s` with every unsafe character (see [`is_unsafe_char`]) escaped as `\u{..}`.
/// `keep_newlines`: the line breaks of a multi-line message of our own stay.
pub fn escape(s: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    if !s
        .chars()
        .any(|c| is_unsafe_char(c) && !(keep_newlines && c == '\n'))
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One value, escaped (line breaks too).
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, false)
}

/// Prints JSON. serde_json escapes C0 controls; the other unsafe characters are written
/// as JSON `\uXXXX` escapes (the same string to a parser, inert on a terminal).
pub fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe_char(c) && c != '\n' {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    write_line(&out);
}

/// Writes one line to stdout. When the reader has gone (`textid config keys | head -1`),
/// the process ends quietly with success, as ripgrep does: nobody is left to read the
/// rest, and `println!` would panic.
pub fn write_line(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Another failure (a full disk behind a redirect): say so, as `println!` would
        // have, without a panic's backtrace.
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// A user, Graph-shaped.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
        "accountEnabled": u.account_enabled, "mobilePhone": u.mobile_phone, "businessPhones": u.business_phones,
        "onPremisesSyncEnabled": u.on_premises_sync_enabled.then_some(true),
    })
}

/// A user, one line.
pub fn user_line(u: &User) -> String {
    format!(
        "{}  {}  {}{}{}",
        u.id,
        u.upn,
        u.display_name,
        if u.account_enabled {
            ""
        } else {
            "  (disabled)"
        },
        if u.on_premises_sync_enabled {
            "  (synced)"
        } else {
            ""
        }
    )
}

/// A group, Graph-shaped.
pub fn group_json(g: &Group) -> Value {
    json!({"id": g.id, "displayName": g.display_name})
}

/// A phone method, Graph-shaped.
pub fn phone_json(m: &PhoneMethodView) -> Value {
    json!({
        "id": m.method.phone_type.method_id(),
        "phoneNumber": m.method.number.to_string(),
        "phoneType": m.method.phone_type,
        "smsSignInState": m.sms_sign_in_state,
    })
}

/// A phone method, one line.
pub fn phone_line(m: &PhoneMethodView) -> String {
    format!(
        "{:16} {:24} smsSignInState={}  (id {})",
        m.method.phone_type.as_str(),
        m.method.number.to_string(),
        m.sms_sign_in_state.as_str(),
        m.method.phone_type.method_id()
    )
}

/// `println!`, with control, bidirectional and zero-width characters escaped (the line
/// breaks of the format itself kept).
#[macro_export]
macro_rules! out {
    () => { $crate::cli::output::write_line("") };
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(&$crate::cli::output::escape(&format!($($arg)*), true))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_bidi_and_zero_width_characters_are_escaped() {
        assert_eq!(clean("ana"), "ana");
        assert_eq!(clean("\u{1b}[2Jevil"), "\\u{1b}[2Jevil");
        assert_eq!(clean("a\rb\nc"), "a\\u{d}b\\u{a}c");
        assert_eq!(clean("gp\u{202e}fdp.exe"), "gp\\u{202e}fdp.exe");
        assert_eq!(clean("a\u{200b}b"), "a\\u{200b}b");
        assert_eq!(clean("\u{9b}31m"), "\\u{9b}31m", "C1 CSI");
        assert_eq!(escape("one\ntwo\u{7}", true), "one\ntwo\\u{7}");
    }
}
