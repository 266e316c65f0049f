//! API tokens: the bearer format `bhk_<id>_<secret>`, strict parsing that never echoes a token,
//! the stored hash (SHA-256, domain-separated, compared in constant time), the token record,
//! and the pure authentication of a presented token against its record.
//!
//! The caller supplies the random bytes and the time; nothing here reads a clock or an RNG.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::identity::{Binding, Subject, UserName, UserRecord};

/// Every token starts with it, so that secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "bhk_";
/// Random bytes of the public id (16 hex characters).
pub const ID_BYTES: usize = 8;
/// Random bytes of the secret: 256 bits (64 hex characters).
pub const SECRET_BYTES: usize = 32;
/// `bhk_` + 16 + `_` + 64.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 2 * ID_BYTES + 1 + 2 * SECRET_BYTES;
/// The longest lifetime a token may be given: 100 years of 365 days (its expiry stays a time
/// RFC 3339 can write). "Never" is no expiry at all.
pub const MAX_EXPIRES_IN: u64 = 100 * 365 * 86_400;

// A token id is the id bytes in hex: the name rule says so too.
const _: () = assert!(2 * ID_BYTES == crate::names::TOKEN_ID.max_len);

/// Hashed before the id and the secret, so this hash can never equal any other SHA-256 use.
const HASH_DOMAIN: &[u8] = b"bulkhead api token v1\0";

/// No variant carries the presented token or any part of its secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed: {reason}")]
    Malformed { reason: &'static str },
    /// The text is not echoed: it may be a whole token pasted in the wrong place.
    #[error("the token id is not valid: it must be 16 lowercase hex characters")]
    BadId,
    #[error("token name is not valid: {reason}")]
    BadName { reason: &'static str },
    #[error("token hash is not valid: it must be 64 lowercase hex characters")]
    BadHash,
    #[error("a token cannot expire (at {expires_at}) before it is created (at {created_at})")]
    ExpiresBeforeCreated { created_at: u64, expires_at: u64 },
    #[error("token {id} does not match its record")]
    Mismatch { id: TokenId },
    #[error("token {id} was revoked at {at}")]
    Revoked { id: TokenId, at: u64 },
    #[error("token {id} expired at {at}")]
    Expired { id: TokenId, at: u64 },
    #[error("token {id} belongs to {owner}, not to the account {user} given with it")]
    WrongOwner {
        id: TokenId,
        owner: UserName,
        user: UserName,
    },
    #[error("the account {user} is disabled")]
    Disabled { user: UserName },
    #[error("the bindings of {user} are inconsistent: {reason}")]
    Bindings { user: UserName, reason: String },
}

/// The public part of a token: 16 lowercase hex characters. Safe to log and to show.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    pub fn from_bytes(bytes: [u8; ID_BYTES]) -> TokenId {
        TokenId(hex::encode(bytes))
    }

    pub fn parse(given: &str) -> Result<TokenId, TokenError> {
        if crate::names::TOKEN_ID.check(given).is_ok() {
            Ok(TokenId(given.to_owned()))
        } else {
            Err(TokenError::BadId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenId {
    type Error = TokenError;
    fn try_from(given: String) -> Result<TokenId, TokenError> {
        TokenId::parse(&given)
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A whole bearer token, secret included. Zeroed on drop; its `Debug` shows the id only; it is
/// neither `Clone` nor `Display`: the only way to the text is [`TokenSecret::expose`].
pub struct TokenSecret {
    id: TokenId,
    secret: Zeroizing<[u8; SECRET_BYTES]>,
}

impl TokenSecret {
    /// A new token from random bytes the caller drew from the OS.
    pub fn from_random(id: [u8; ID_BYTES], secret: [u8; SECRET_BYTES]) -> TokenSecret {
        TokenSecret {
            id: TokenId::from_bytes(id),
            secret: Zeroizing::new(secret),
        }
    }

    /// Parses `bhk_<16 hex>_<64 hex>`, lowercase hex only, nothing before or after.
    pub fn parse(text: &str) -> Result<TokenSecret, TokenError> {
        let malformed = |reason| Err(TokenError::Malformed { reason });
        if text.len() != TOKEN_LEN {
            return malformed("it must be 85 characters long");
        }
        if !text.is_ascii() {
            return malformed("it must be ASCII");
        }
        let Some(rest) = text.strip_prefix(TOKEN_PREFIX) else {
            return malformed("it must start with `bhk_`");
        };
        let (id, secret_hex) = rest.split_at(2 * ID_BYTES);
        let Some(secret_hex) = secret_hex.strip_prefix('_') else {
            return malformed("the id must be followed by `_`");
        };
        if !is_lower_hex(id) || !is_lower_hex(secret_hex) {
            return malformed("the id and the secret must be lowercase hex");
        }
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        if hex::decode_to_slice(secret_hex, &mut secret[..]).is_err() {
            return malformed("the secret must be 64 hex characters");
        }
        Ok(TokenSecret {
            id: TokenId(id.to_owned()),
            secret,
        })
    }

    pub fn id(&self) -> &TokenId {
        &self.id
    }

    /// The token as its owner types it; shown once, at creation.
    pub fn expose(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        out.push_str(TOKEN_PREFIX);
        out.push_str(self.id.as_str());
        out.push('_');
        for byte in self.secret.iter() {
            for nibble in [byte >> 4, byte & 0x0f] {
                out.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
            }
        }
        out
    }

    /// What the store keeps: SHA-256 over a domain tag, the id and the secret.
    pub fn hash(&self) -> TokenHash {
        let mut hasher = Sha256::new();
        hasher.update(HASH_DOMAIN);
        hasher.update(self.id.as_str().as_bytes());
        hasher.update([0u8]);
        hasher.update(&self.secret[..]);
        TokenHash(hasher.finalize().into())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSecret")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The stored form of a token's secret. Equality is constant-time.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TokenHash {}

impl TryFrom<String> for TokenHash {
    type Error = TokenError;
    fn try_from(text: String) -> Result<TokenHash, TokenError> {
        let mut bytes = [0u8; 32];
        if !is_lower_hex(&text) || hex::decode_to_slice(&text, &mut bytes).is_err() {
            return Err(TokenError::BadHash);
        }
        Ok(TokenHash(bytes))
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> String {
        hash.to_hex()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        write!(f, "TokenHash({}…)", hex.get(..8).unwrap_or_default())
    }
}

/// A token's label, chosen by its owner ("laptop", "ci"): 1 to 64 characters, no control
/// characters (it is printed in listings).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    pub fn new(name: &str) -> Result<TokenName, TokenError> {
        crate::names::TOKEN_NAME
            .check(name)
            .map_err(|reason| TokenError::BadName { reason })?;
        Ok(TokenName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenName {
    type Error = TokenError;
    fn try_from(name: String) -> Result<TokenName, TokenError> {
        TokenName::new(&name)
    }
}

impl From<TokenName> for String {
    fn from(name: TokenName) -> String {
        name.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A token as the store keeps it: never the secret, only its hash. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub owner: UserName,
    pub name: TokenName,
    pub hash: TokenHash,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
}

impl TokenRecord {
    /// The record of a freshly made token.
    pub fn new(
        secret: &TokenSecret,
        owner: UserName,
        name: TokenName,
        created_at: u64,
        expires_at: Option<u64>,
    ) -> Result<TokenRecord, TokenError> {
        if let Some(expires_at) = expires_at.filter(|at| *at <= created_at) {
            return Err(TokenError::ExpiresBeforeCreated {
                created_at,
                expires_at,
            });
        }
        Ok(TokenRecord {
            id: secret.id().clone(),
            owner,
            name,
            hash: secret.hash(),
            created_at,
            expires_at,
            revoked_at: None,
        })
    }

    /// Not revoked, and not expired at `now` (a token expires at the second `expires_at`).
    pub fn is_usable(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// Checks a presented token against this record: same id, same hash (constant time), then
    /// not revoked, not expired. The hash comes first, so a wrong secret learns nothing more.
    pub fn verify(&self, presented: &TokenSecret, now: u64) -> Result<(), TokenError> {
        if presented.id() != &self.id || presented.hash() != self.hash {
            return Err(TokenError::Mismatch {
                id: self.id.clone(),
            });
        }
        if let Some(at) = self.revoked_at {
            return Err(TokenError::Revoked {
                id: self.id.clone(),
                at,
            });
        }
        match self.expires_at {
            Some(at) if now >= at => Err(TokenError::Expired {
                id: self.id.clone(),
                at,
            }),
            _ => Ok(()),
        }
    }
}

/// The whole authentication of a request, given what the store returned for the presented
/// token's id: the token verifies, belongs to `user`, and `user` is enabled. Every error
/// means "401"; the variants are for the server's log, never for the caller.
pub fn authenticate(
    presented: &TokenSecret,
    token: &TokenRecord,
    user: &UserRecord,
    bindings: Vec<Binding>,
    now: u64,
) -> Result<Subject, TokenError> {
    token.verify(presented, now)?;
    if token.owner != user.name {
        return Err(TokenError::WrongOwner {
            id: token.id.clone(),
            owner: token.owner.clone(),
            user: user.name.clone(),
        });
    }
    if user.disabled {
        return Err(TokenError::Disabled {
            user: user.name.clone(),
        });
    }
    Subject::new(user.name.clone(), user.kind, bindings).map_err(|err| TokenError::Bindings {
        user: user.name.clone(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
