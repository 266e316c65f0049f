//! The hash of a service spec as Bulkhead made it: SHA-256 over its JSON with every object's
//! keys sorted (the spec's maps are `HashMap`s, whose order changes from run to run), the
//! spec's own hash label left out.

use bollard::models::ServiceSpec;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::mapping::LABEL_SPEC;

/// Hex SHA-256 of `spec` without its [`LABEL_SPEC`] label: equal hashes, equal specs.
pub fn spec_hash(spec: &ServiceSpec) -> String {
    let mut spec = spec.clone();
    if let Some(labels) = spec.labels.as_mut() {
        labels.remove(LABEL_SPEC);
    }
    let mut text = String::new();
    // A spec is plain data: serializing it cannot fail; `Null` would only make every hash equal.
    canonical(
        &serde_json::to_value(&spec).unwrap_or(Value::Null),
        &mut text,
    );
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JSON text with object keys in byte order, whatever order the map kept.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn spec(labels: &[(&str, &str)]) -> ServiceSpec {
        ServiceSpec {
            name: Some("shop-web".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn the_hash_ignores_map_order_and_its_own_label() {
        let many: Vec<(String, String)> = (0..64)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut reversed = pairs.clone();
        reversed.reverse();
        assert_eq!(spec_hash(&spec(&pairs)), spec_hash(&spec(&reversed)));
        let mut labelled = pairs.clone();
        labelled.push((LABEL_SPEC, "an older hash"));
        assert_eq!(spec_hash(&spec(&pairs)), spec_hash(&spec(&labelled)));
        assert_eq!(spec_hash(&spec(&pairs)).len(), 64);
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = spec_hash(&spec(&[("a", "1")]));
        assert_ne!(base, spec_hash(&spec(&[("a", "2")])));
        assert_ne!(base, spec_hash(&spec(&[("a", "1"), ("b", "1")])));
        let mut renamed = spec(&[("a", "1")]);
        renamed.name = Some("shop-api".into());
        assert_ne!(base, spec_hash(&renamed));
    }
}
