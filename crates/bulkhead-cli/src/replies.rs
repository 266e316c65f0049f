//! The API's replies read as their types (`bulkhead-api-types`): strictly, so a reply that
//! lacks a field fails with the field's name instead of printing a default; and `--json`
//! printing the typed reply back as one document.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::output::emit_json;

/// `value` (the reply to one request) as `T`; `what` names the reply in the error.
pub fn read<T: DeserializeOwned>(what: &'static str, value: Value) -> anyhow::Result<T> {
    Ok(bulkhead_api_types::decode(what, value)?)
}

/// Print a reply as one JSON document (keys in order, as the API's own replies are printed).
pub fn print_json<T: Serialize>(reply: &T) -> anyhow::Result<()> {
    let value = serde_json::to_value(reply)?;
    emit_json(&value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_api_types::{ScaleReply, TokenReply};

    #[test]
    fn a_missing_field_is_an_error_that_names_it() {
        let partial = serde_json::json!({"project": "shop", "service": "web", "replicas": 2});
        let err = read::<ScaleReply>("scale reply", partial).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("missing field `changed`"), "{text}");
        assert!(text.contains("scale reply"), "{text}");
    }

    #[test]
    fn a_field_sent_as_null_is_none_but_a_missing_one_is_an_error() {
        let token = |expires: Option<Value>| {
            let mut v = serde_json::json!({
                "id": "0123456789abcdef", "owner": "ana", "name": "laptop",
                "created_at": "2026-01-01T00:00:00Z", "revoked_at": null,
            });
            if let (Some(map), Some(e)) = (v.as_object_mut(), expires) {
                map.insert("expires_at".into(), e);
            }
            read::<TokenReply>("token", v)
        };
        assert!(token(Some(Value::Null)).is_ok_and(|t| t.expires_at.is_none()));
        let missing = token(None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("missing field `expires_at`"), "{missing}");
    }
}
