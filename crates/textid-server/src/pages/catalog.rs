//! Every user-facing text of the pages, keyed by stable ids (after Ory Kratos's `text/`).
//! English first; another language is another table with the same ids.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const EN: &[(&str, &str)] = &[
    ("page.title", "Sign in"),
    ("phone.heading", "Sign in with your phone"),
    ("phone.label", "Phone number"),
    ("phone.hint", "Include the country code, for example +1 425 555 0101."),
    ("phone.submit", "Send code"),
    ("login.heading", "Sign in"),
    ("login.label", "Phone number or user name"),
    ("login.hint", "A phone number with its country code, for example +1 425 555 0101, or your user name, for example ana@contoso.example."),
    ("login.submit", "Next"),
    ("choose.heading", "Enter your password"),
    ("choose.as", "Signing in as"),
    ("choose.password", "Password"),
    ("choose.password.submit", "Sign in"),
    ("choose.password.call", "Sign in, and call me if a code is needed"),
    ("choose.new_password", "New password"),
    ("choose.new_password.hint", "Your administrator asks you to choose a new password: at least 8 characters, not a common one."),
    ("choose.change_required", "Your password must be changed. Enter it again with a new one."),
    ("choose.pass", "Or a Temporary Access Pass from your administrator"),
    ("choose.pass.submit", "Sign in with the pass"),
    ("choose.other", "Use a phone number or another user name"),
    ("choose.forgot", "Forgot your password?"),
    ("reset.heading", "Reset your password"),
    ("reset.user_name", "User name"),
    ("reset.text_me", "Text me a code"),
    ("reset.call_me", "Call me with a code"),
    ("reset.sent", "If this user name can reset its password here, we sent a code to its phone. Enter it with your new password."),
    ("reset.hint", "At least 8 characters, not a common password. Resetting signs you out everywhere."),
    ("reset.submit", "Reset password"),
    ("reset.done.title", "Password changed"),
    ("reset.done", "Your password was changed and you were signed out everywhere. Sign in again with the new password."),
    ("error.invalidCredentials", "The user name, password or pass is not right. Check them and try again."),
    ("error.passwordTooShort", "The new password is too short: use at least 8 characters."),
    ("error.passwordTooLong", "The new password is too long: use at most 256 characters."),
    ("error.passwordTooCommon", "The new password is one of the most common passwords. Choose another one."),
    ("error.secondFactorUnavailable", "This sign-in needs a code sent to your phone, and you have no phone that can get one. Ask your administrator."),
    ("phone.app", "to continue to"),
    ("code.heading", "Enter the code"),
    ("code.sent", "If this number can sign in here, we sent a code to"),
    ("code.label", "Code"),
    ("code.submit", "Sign in"),
    ("code.resend", "Send a new code"),
    ("code.resend.wait", "You can ask for a new code in"),
    ("code.resend.seconds", "seconds."),
    ("code.resent", "We sent a new code. Only the newest code works."),
    ("code.called", "If this number can sign in here, we are calling it now to read out a code:"),
    ("code.text_me", "Text me a new code"),
    ("code.call_me", "Call me instead"),
    ("code.other_number", "Use another number"),
    ("error.invalidRequest", "Check what you typed and try again."),
    ("error.phoneNumber", "That is not a phone number we can send to. Include the country code, for example +1 425 555 0101."),
    ("error.invalidCode", "That code is not right. Check the newest text message and try again."),
    ("error.codeFormat", "The code has 6 digits. Check the text message and try again."),
    ("error.codeExpired", "That code has expired. Ask for a new code."),
    ("error.tooManyAttempts", "Too many wrong codes. Ask for a new code."),
    ("error.tooManyRequests", "Too many requests. Wait a little and try again."),
    ("error.temporarilyLocked", "Too many wrong codes for this number. Wait a little and try again."),
    ("error.flowNotFound", "This sign-in has ended. Start again."),
    ("error.session", "This sign-in page has expired or was opened in another browser. Go back to the app and start again."),
    ("error.title", "Something went wrong"),
    ("error.client", "The app that sent you here is not registered correctly, so you cannot sign in from it. Tell the app's owner."),
    ("security.title", "Your security info"),
    ("security.intro", "The phones you sign in with and receive codes on. Changes need a sign-in from the last 10 minutes and sign you out of your other sessions."),
    ("security.continue", "Continue to the app"),
    ("security.none", "You have no phone yet."),
    ("security.type.mobile", "Mobile phone"),
    ("security.type.alternateMobile", "Alternate mobile phone"),
    ("security.type.office", "Office phone"),
    ("security.state.ready", "You sign in with this number."),
    ("security.state.notEnabled", "Not used for sign-in."),
    ("security.state.notConfigured", "Not confirmed yet: confirm it with a code before you can sign in with it."),
    ("security.state.notAllowedByPolicy", "Your organization does not let you sign in with text messages."),
    ("security.state.phoneNumberNotUnique", "Another person also has this number, so it cannot be used for sign-in. Ask your administrator."),
    ("security.state.notSupported", "Used for calls only."),
    ("security.enable", "Enable for SMS sign-in"),
    ("security.confirm", "Confirm this number"),
    ("security.remove", "Remove"),
    ("security.phone_type", "Phone"),
    ("security.add", "Add a phone number"),
    ("security.change", "New phone number"),
    ("security.proof_hint", "We send a code to the new number (office numbers get a call). It is saved once you enter the code."),
    ("security.send_code", "Send code"),
    ("security.proof.heading", "Confirm your new number"),
    ("security.saved", "Saved. For your safety your other sessions were signed out; you stay signed in here."),
    ("security.removed", "Removed. For your safety your other sessions were signed out; you stay signed in here."),
    ("security.notRevoked", "Saved, but signing you out of your other sessions failed. Sign out, then ask your admin to end your sessions."),
    ("security.enabled", "You can now sign in with this number."),
    ("security.reauth", "Confirm it's you: sign in again to change your security info."),
    ("security.error.phoneNumberNotUnique", "This number belongs to another person in your organization, so it cannot be yours too. Use a number only you have."),
    ("security.error.lastSignInMethod", "This is the only phone you can sign in with. Add or enable another one before you remove it."),
    ("security.error.phoneNumber", "That is not a phone number we can use. Include the country code, for example +1 425 555 0101."),
    ("security.error.other", "That change is not possible:"),
    ("security.error.noCalls", "This kind of phone gets codes by a call, and your organization does not allow calls to it. Add a mobile phone instead."),
    ("logout.title", "Sign out?"),
    ("logout.text", "An app asked to sign you out of your account here. Sign out?"),
    ("logout.submit", "Sign out"),
    ("signedout.title", "Signed out"),
    ("signedout.text", "You are signed out. You can close this window."),
];

/// The texts of a language (English for any language not translated yet).
pub fn texts(_locale: &str) -> &'static BTreeMap<&'static str, &'static str> {
    static EN_MAP: OnceLock<BTreeMap<&'static str, &'static str>> = OnceLock::new();
    EN_MAP.get_or_init(|| EN.iter().copied().collect())
}

/// One text.
pub fn text(id: &str) -> &'static str {
    texts("en").get(id).copied().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_sign_in_error_code_has_a_text() {
        assert_eq!(texts("en").len(), EN.len(), "duplicate id");
        for code in [
            "invalidCode",
            "codeExpired",
            "tooManyAttempts",
            "flowNotFound",
            "tooManyRequests",
            "temporarilyLocked",
        ] {
            assert!(!text(&format!("error.{code}")).is_empty(), "{code}");
        }
    }
}
