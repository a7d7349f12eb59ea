//! [`Credentials`]: the API keys and bearer tokens a request may carry, checked
//! the same way for HTTP headers and gRPC metadata.

use subtle::ConstantTimeEq;

/// The accepted credentials. Empty: auth is off and every request passes.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    api_keys: Vec<Vec<u8>>,
    bearer_tokens: Vec<Vec<u8>>,
}

impl Credentials {
    pub fn new(api_keys: &[String], bearer_tokens: &[String]) -> Credentials {
        Credentials {
            api_keys: api_keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            bearer_tokens: bearer_tokens
                .iter()
                .map(|t| t.as_bytes().to_vec())
                .collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.api_keys.is_empty() || !self.bearer_tokens.is_empty()
    }

    /// Whether the `x-api-key` or `authorization` value lets the request in.
    pub fn allows(&self, api_key: Option<&[u8]>, authorization: Option<&[u8]>) -> bool {
        if !self.enabled() {
            return true;
        }
        if let Some(key) = api_key
            && self.api_keys.iter().any(|k| same(k, key))
        {
            return true;
        }
        if let Some(token) = authorization.and_then(bearer)
            && self.bearer_tokens.iter().any(|t| same(t, token))
        {
            return true;
        }
        false
    }
}

/// The token of `Bearer TOKEN` (scheme case-insensitive, as RFC 9110 says).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = header.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

/// Compares in time that does not depend on where the first differing byte
/// is, so response time does not tell an attacker how much of a key was
/// right: `subtle`'s constant-time equality, by contract rather than by
/// hoping the optimiser keeps a hand-written loop.
fn same(expected: &[u8], given: &[u8]) -> bool {
    expected.ct_eq(given).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens() {
        let open = Credentials::default();
        assert!(open.allows(None, None));
        let creds = Credentials::new(&["k1".into()], &["t1".into()]);
        assert!(creds.allows(Some(b"k1"), None));
        assert!(creds.allows(None, Some(b"Bearer t1")));
        assert!(creds.allows(None, Some(b"bearer t1")));
        assert!(!creds.allows(None, None));
        assert!(!creds.allows(Some(b"k2"), None));
        assert!(!creds.allows(Some(b"k"), None));
        assert!(!creds.allows(Some(b"t1"), None), "a token is not a key");
        assert!(
            !creds.allows(None, Some(b"Bearer k1")),
            "a key is not a token"
        );
        assert!(!creds.allows(None, Some(b"Basic t1")));
        assert!(!creds.allows(None, Some(b"Bearer")));
    }
}
