//! Single use of authorization codes and refresh tokens (RFC 6749 §4.1.2, §10.4; OAuth 2.0
//! Security BCP §4.14): the verdict on a presented code or token, decided on the facts a
//! backend read in its write transaction. A backend then writes what the verdict says.

/// What a backend read about a stored code or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredUse {
    /// It was issued to the client presenting it.
    pub same_client: bool,
    /// It was used before.
    pub used: bool,
    /// It, or its family, was revoked.
    pub revoked: bool,
    /// Its lifetime is over.
    pub expired: bool,
    /// The browser session it was issued in has ended (signed out, revoked or expired).
    /// Only a code asks: the refresh tokens of `offline_access` are independent of the
    /// session by request, so [`refresh_verdict`] ignores it.
    pub session_ended: bool,
}

/// What to do with a presented code or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum UseVerdict {
    /// First use: mark it used and hand out its grant.
    Redeem,
    /// A second use: someone holds a copy, so revoke every token of its family.
    RevokeFamily,
    /// Refuse it; `mark_used` says whether it is spent all the same.
    Refuse {
        /// Mark it used (an expired code is spent by the attempt).
        mark_used: bool,
    },
    /// Refuse a code whose browser session has ended, and spend it: the user signed out
    /// between the authorization and the redemption, so nothing may come of it (issue #19).
    SessionEnded,
}

/// The verdict on an authorization code. Another client's code is refused and stays
/// unused (it must not let that client burn the code of the rightful one); a used code
/// revokes what it issued; an expired code is spent and refused; so is a code whose browser
/// session has ended since it was issued.
pub fn code_verdict(s: StoredUse) -> UseVerdict {
    if !s.same_client {
        UseVerdict::Refuse { mark_used: false }
    } else if s.used {
        UseVerdict::RevokeFamily
    } else if s.expired || s.revoked {
        UseVerdict::Refuse { mark_used: true }
    } else if s.session_ended {
        UseVerdict::SessionEnded
    } else {
        UseVerdict::Redeem
    }
}

/// The verdict on a refresh token (rotation with reuse detection). A revoked token is
/// refused quietly: its family is already revoked.
pub fn refresh_verdict(s: StoredUse) -> UseVerdict {
    if !s.same_client || s.revoked {
        UseVerdict::Refuse { mark_used: false }
    } else if s.used {
        UseVerdict::RevokeFamily
    } else if s.expired {
        UseVerdict::Refuse { mark_used: false }
    } else {
        UseVerdict::Redeem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: StoredUse = StoredUse {
        same_client: true,
        used: false,
        revoked: false,
        expired: false,
        session_ended: false,
    };

    #[test]
    fn a_fresh_code_or_token_is_redeemed() {
        assert_eq!(code_verdict(FRESH), UseVerdict::Redeem);
        assert_eq!(refresh_verdict(FRESH), UseVerdict::Redeem);
    }

    #[test]
    fn a_second_use_revokes_the_family() {
        let used = StoredUse {
            used: true,
            ..FRESH
        };
        assert_eq!(code_verdict(used), UseVerdict::RevokeFamily);
        assert_eq!(refresh_verdict(used), UseVerdict::RevokeFamily);
    }

    #[test]
    fn another_clients_code_stays_unused() {
        let other = StoredUse {
            same_client: false,
            used: true,
            ..FRESH
        };
        assert_eq!(code_verdict(other), UseVerdict::Refuse { mark_used: false });
        assert_eq!(
            refresh_verdict(other),
            UseVerdict::Refuse { mark_used: false }
        );
    }

    #[test]
    fn an_expired_code_is_spent_and_an_expired_token_refused() {
        let expired = StoredUse {
            expired: true,
            ..FRESH
        };
        assert_eq!(
            code_verdict(expired),
            UseVerdict::Refuse { mark_used: true }
        );
        assert_eq!(
            refresh_verdict(expired),
            UseVerdict::Refuse { mark_used: false }
        );
    }

    #[test]
    fn a_revoked_refresh_token_is_refused_without_another_revocation() {
        let revoked = StoredUse {
            revoked: true,
            used: true,
            ..FRESH
        };
        assert_eq!(
            refresh_verdict(revoked),
            UseVerdict::Refuse { mark_used: false }
        );
    }

    #[test]
    fn a_code_of_an_ended_session_is_spent_but_an_offline_refresh_token_is_not_bound() {
        let ended = StoredUse {
            session_ended: true,
            ..FRESH
        };
        assert_eq!(code_verdict(ended), UseVerdict::SessionEnded);
        assert_eq!(refresh_verdict(ended), UseVerdict::Redeem);
        // A second use of a code still revokes what the first issued.
        let replayed = StoredUse {
            used: true,
            ..ended
        };
        assert_eq!(code_verdict(replayed), UseVerdict::RevokeFamily);
    }
}
