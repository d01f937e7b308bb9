//! What a sign-in log entry's failure reason means in Entra's terms: the `status/errorCode`
//! (AADSTS number) of Graph's `signIn`. One table, read by the Graph answer and by the
//! query layer (a `$filter` on `status/errorCode` becomes a condition on the stored
//! reason, so both always agree).

/// Error codes by reason. A reason listed nowhere is a delivery failure or a refusal of
/// its own (500121); a success is 0.
pub const ERROR_CODES: &[(u32, &[&str])] = &[
    (
        50034,
        &[
            "userNotFound",
            "notSupported",
            "notAllowedByPolicy",
            "phoneNumberNotUnique",
            "notEnabled",
            "notConfigured",
        ],
    ),
    (50057, &["accountDisabled"]),
    (50126, &["invalidCode", "tooManyAttempts"]),
    (50089, &["codeExpired", "flowNotFound"]),
    (
        50053,
        &["temporarilyLocked", "numberLocked", "clientLocked"],
    ),
    (
        50088,
        &[
            "tooManyRequests",
            "conversionPaused",
            "ipBudgetExceeded",
            "prefixBudgetExceeded",
            "countryBudgetExceeded",
            "tenantBudgetExceeded",
            "tenantDailyCapExceeded",
            "globalBudgetExceeded",
        ],
    ),
];

/// The code of anything not in [`ERROR_CODES`] that failed.
pub const OTHER_FAILURE: u32 = 500121;

/// Entra's error code for a failure reason.
pub fn error_code(reason: &str) -> u32 {
    ERROR_CODES
        .iter()
        .find(|(_, reasons)| reasons.contains(&reason))
        .map_or(OTHER_FAILURE, |(code, _)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abuse::Refusal;

    #[test]
    fn every_refusal_has_its_code_and_unknown_reasons_are_other_failures() {
        for r in Refusal::ALL {
            let code = error_code(r.as_str());
            assert!(
                matches!(code, 50088 | 50053 | OTHER_FAILURE),
                "{r:?}: {code}"
            );
        }
        assert_eq!(error_code("ipBudgetExceeded"), 50088);
        assert_eq!(error_code("clientLocked"), 50053);
        assert_eq!(error_code("invalidCode"), 50126);
        assert_eq!(error_code("twilio error 30003"), OTHER_FAILURE);
    }
}
