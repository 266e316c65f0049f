//! The JSON bodies the routes take, each with its OpenAPI schema: what its fields' types say,
//! and where the parser checks more (names by their rule, roles, base64, bounds), what it
//! checks; integers read as JSON Schema has them (`2.0` is 2).

use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST .../deploys` and `.../plans`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The Compose files, relative to the archive's root, in `-f` order (empty: discovery).
    #[serde(default)]
    pub files: Vec<String>,
    /// Variables the files interpolate.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The project directory as a tar archive, base64 (standard alphabet).
    #[schema(schema_with = body_schema::bundle)]
    pub bundle: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    #[serde(deserialize_with = "whole::u32")]
    #[schema(schema_with = body_schema::replicas)]
    pub replicas: u32,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The release to re-activate (default: the one before the active one).
    #[serde(default, deserialize_with = "whole::option_u64")]
    #[schema(schema_with = body_schema::release_or_null)]
    pub to: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    #[schema(schema_with = bulkhead_api_types::schema::user_name)]
    pub name: String,
    /// `user` (default) or `service-account`.
    #[serde(default)]
    #[schema(schema_with = body_schema::kind_or_null)]
    pub kind: Option<String>,
    /// A first role binding.
    #[serde(default)]
    #[schema(schema_with = body_schema::role_or_null)]
    pub role: Option<String>,
    /// The binding's project (default: all projects); only with a role.
    #[serde(default)]
    #[schema(schema_with = bulkhead_api_types::schema::project_name_or_null)]
    pub project: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[schema(schema_with = bulkhead_api_types::schema::token_name)]
    pub name: String,
    /// Seconds until it expires (default: never).
    #[serde(default, deserialize_with = "whole::option_u64")]
    #[schema(schema_with = body_schema::seconds_or_null)]
    pub expires_in: Option<u64>,
}

/// Body of `PUT .../secrets/{name}`: the value, base64 (standard alphabet). Write-only: no
/// request returns it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    #[schema(schema_with = body_schema::secret_value)]
    pub value: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingBody {
    #[schema(schema_with = bulkhead_api_types::schema::role)]
    pub role: String,
    /// Default: all projects.
    #[serde(default)]
    #[schema(schema_with = bulkhead_api_types::schema::project_name_or_null)]
    pub project: Option<String>,
}

/// Integers as JSON Schema has them: a number without a fractional part, so `2.0` is 2 (serde
/// alone takes only `2`).
mod whole {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    fn number<'de, D: Deserializer<'de>>(n: serde_json::Number) -> Result<u64, D::Error> {
        if let Some(u) = n.as_u64() {
            return Ok(u);
        }
        match n.as_f64() {
            // 2^64 as f64 is past u64::MAX; below it, a whole f64 is an exact integer.
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
                Ok(f as u64)
            }
            _ => Err(D::Error::custom(format!(
                "{n} is not a whole number from 0 to {}",
                u64::MAX
            ))),
        }
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let n = number::<D>(serde_json::Number::deserialize(d)?)?;
        u32::try_from(n).map_err(|_| D::Error::custom(format!("{n} is too large")))
    }

    pub fn option_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<serde_json::Number>::deserialize(d)? {
            Some(n) => number::<D>(n).map(Some),
            None => Ok(None),
        }
    }
}

/// The schemas of body fields whose type says less than the parser checks.
mod body_schema {
    use bulkhead_core::auth::Role;
    use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

    /// Canonical base64 (standard alphabet, padded, unused bits zero: what the decoder takes).
    pub(super) const BASE64: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/]{4})?$";

    fn nullable(t: Type) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
    }

    pub fn bundle() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(BASE64))
            .content_encoding("base64")
            .content_media_type("application/x-tar")
            .build()
    }

    /// 1 byte to 1 MiB, base64: at most 1,398,100 characters (1,048,575 bytes), so that every
    /// string the pattern and length allow decodes to a value the server takes.
    pub fn secret_value() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(BASE64))
            .min_length(Some(4))
            .max_length(Some(1_398_100))
            .content_encoding("base64")
            .build()
    }

    pub fn replicas() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(bulkhead_core::spec::MAX_REPLICAS))
            .build()
    }

    pub fn release_or_null() -> Object {
        nullable(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u64::MAX))
            .build()
    }

    /// Seconds from now: at least 1 (a token cannot expire as it is made).
    pub fn seconds_or_null() -> Object {
        nullable(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(bulkhead_core::auth::MAX_EXPIRES_IN))
            .build()
    }

    pub fn kind_or_null() -> Object {
        nullable(Type::String)
            .enum_values(Some([
                serde_json::json!("user"),
                serde_json::json!("service-account"),
                serde_json::Value::Null,
            ]))
            .build()
    }

    pub fn role_or_null() -> Object {
        let mut roles: Vec<serde_json::Value> = Role::ALL
            .iter()
            .map(|r| serde_json::json!(r.name()))
            .collect();
        roles.push(serde_json::Value::Null);
        nullable(Type::String).enum_values(Some(roles)).build()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let scale = |body: &str| serde_json::from_str::<ScaleBody>(body).map(|b| b.replicas);
        assert_eq!(scale(r#"{"replicas": 14}"#).ok(), Some(14));
        assert_eq!(scale(r#"{"replicas": 14.0}"#).ok(), Some(14));
        assert!(scale(r#"{"replicas": 14.5}"#).is_err());
        assert!(scale(r#"{"replicas": -1}"#).is_err());
        assert!(scale(r#"{"replicas": 4294967296}"#).is_err());
        let to = |body: &str| serde_json::from_str::<RollbackBody>(body).map(|b| b.to);
        assert_eq!(to(r#"{"to": 3.0}"#).ok(), Some(Some(3)));
        assert_eq!(to(r#"{"to": null}"#).ok(), Some(None));
        assert_eq!(to("{}").ok(), Some(None));
        assert!(to(r#"{"to": 1e30}"#).is_err());
    }

    proptest! {
        /// The body schemas' base64 pattern accepts exactly what the decoder takes.
        #[test]
        fn the_base64_pattern_is_the_decoders(
            text in "[A-Za-z0-9+/=]{0,12}|[A-Za-z0-9+/]{0,10}={0,2}"
        ) {
            let re = regex::Regex::new(body_schema::BASE64)
                .unwrap_or_else(|e| panic!("{e}"));
            let decodes = base64::engine::general_purpose::STANDARD.decode(&text).is_ok();
            prop_assert_eq!(re.is_match(&text), decodes, "{:?}", text);
        }
    }
}
