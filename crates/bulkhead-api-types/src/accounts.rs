//! Replies about accounts: users and service accounts, their tokens (a token's secret only in
//! the reply that made it), and role bindings.

use std::fmt;

use bulkhead_core::auth::{Binding, SubjectKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A whole bearer token, shown once: zeroed when dropped, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, pattern = "^bhk_[0-9a-f]{16}_[0-9a-f]{64}$")]
pub struct TokenText(Zeroizing<String>);

impl TokenText {
    pub fn new(text: String) -> TokenText {
        TokenText(Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenText(<redacted>)")
    }
}

impl Serialize for TokenText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TokenText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TokenText, D::Error> {
        String::deserialize(d).map(TokenText::new)
    }
}

/// A user or service account, with its bindings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserReply {
    #[schema(schema_with = crate::schema::user_name)]
    pub name: String,
    #[schema(schema_with = crate::schema::subject_kind)]
    pub kind: SubjectKind,
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: String,
    /// A disabled account cannot authenticate.
    pub disabled: bool,
    #[schema(schema_with = crate::schema::bindings)]
    pub bindings: Vec<Binding>,
}

/// `GET /v1/users`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserReply>,
}

/// `POST /v1/users`: the account, and its first token (shown once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserAdded {
    pub user: UserReply,
    pub token: TokenText,
    #[schema(schema_with = crate::schema::token_id)]
    pub token_id: String,
}

/// `DELETE /v1/users/{user}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserRemoved {
    #[schema(schema_with = crate::schema::user_name)]
    pub removed: String,
}

/// A token's record: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenReply {
    #[schema(schema_with = crate::schema::token_id)]
    pub id: String,
    #[schema(schema_with = crate::schema::user_name)]
    pub owner: String,
    #[schema(schema_with = crate::schema::token_name)]
    pub name: String,
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: String,
    /// `null`: it never expires.
    #[serde(deserialize_with = "crate::required")]
    #[schema(schema_with = crate::schema::date_time_or_null, required = true)]
    pub expires_at: Option<String>,
    #[serde(deserialize_with = "crate::required")]
    #[schema(schema_with = crate::schema::date_time_or_null, required = true)]
    pub revoked_at: Option<String>,
}

/// `POST /v1/users/{user}/tokens`: the token (shown once) and its record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub token: TokenText,
    pub record: TokenReply,
}

/// `GET /v1/users/{user}/tokens`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    #[schema(schema_with = crate::schema::user_name)]
    pub user: String,
    pub tokens: Vec<TokenReply>,
}

/// `DELETE /v1/users/{user}/tokens/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenRevoked {
    pub revoked: TokenReply,
}

/// `GET /v1/users/{user}/bindings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BindingList {
    #[schema(schema_with = crate::schema::user_name)]
    pub user: String,
    #[schema(schema_with = crate::schema::bindings)]
    pub bindings: Vec<Binding>,
}

/// `POST /v1/users/{user}/bindings` (`added`: false when it was bound already).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BindingAdded {
    #[schema(schema_with = crate::schema::binding)]
    pub binding: Binding,
    pub added: bool,
}

/// `DELETE /v1/users/{user}/bindings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BindingRemoved {
    #[schema(schema_with = crate::schema::binding)]
    pub binding: Binding,
    pub removed: bool,
}
