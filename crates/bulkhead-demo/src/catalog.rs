//! The shop catalog: built-in items, JSON encoding/decoding and HTML rendering.

use crate::json::{self, Value};

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Stable identifier.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Price in cents.
    pub price_cents: u64,
}

/// The catalog the store tier serves.
pub fn builtin() -> Vec<Item> {
    [
        (1, "Watertight door", 129_900),
        (2, "Bilge pump", 34_950),
        (3, "Porthole gasket", 1_299),
        (4, "Brass compass", 8_900),
    ]
    .into_iter()
    .map(|(id, name, price_cents)| Item {
        id,
        name: name.to_string(),
        price_cents,
    })
    .collect()
}

/// Encodes `items` as `{"items":[...],"served_by":"<served_by>"}`.
pub fn to_json(items: &[Item], served_by: &str) -> String {
    let entries: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{{\"id\":{},\"name\":{},\"price_cents\":{}}}",
                i.id,
                json::quote(&i.name),
                i.price_cents
            )
        })
        .collect();
    format!(
        "{{\"items\":[{}],\"served_by\":{}}}",
        entries.join(","),
        json::quote(served_by)
    )
}

/// Decodes a catalog document produced by [`to_json`].
pub fn from_json(text: &str) -> Result<Vec<Item>, String> {
    let doc = json::parse(text)?;
    let items = doc
        .get("items")
        .and_then(Value::as_array)
        .ok_or("catalog has no \"items\" array")?;
    items
        .iter()
        .enumerate()
        .map(|(n, v)| {
            let field = |k: &str| v.get(k).ok_or(format!("item {n}: missing {k:?}"));
            Ok(Item {
                id: field("id")?.as_u64().ok_or(format!("item {n}: bad id"))?,
                name: field("name")?
                    .as_str()
                    .ok_or(format!("item {n}: bad name"))?
                    .to_string(),
                price_cents: field("price_cents")?
                    .as_u64()
                    .ok_or(format!("item {n}: bad price_cents"))?,
            })
        })
        .collect()
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Formats cents as `12.34`.
pub fn format_price(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <title>{t}</title></head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = html_escape(title)
    )
}

/// Renders the shop front page listing `items`.
pub fn render_page(items: &[Item]) -> String {
    let mut body = String::from("<ul class=\"items\">\n");
    for i in items {
        body.push_str(&format!(
            "<li data-id=\"{}\">{} &mdash; ${}</li>\n",
            i.id,
            html_escape(&i.name),
            format_price(i.price_cents)
        ));
    }
    body.push_str("</ul>\n");
    page("Bulkhead shop", &body)
}

/// Renders the page shown when the api tier cannot be reached.
pub fn render_error_page(detail: &str) -> String {
    let body = format!(
        "<p class=\"error\">The catalog is unavailable: {}</p>\n",
        html_escape(detail)
    );
    page("Bulkhead shop", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let mut items = builtin();
        items.push(Item {
            id: 99,
            name: "Quote \" and \\ and <b>".into(),
            price_cents: 5,
        });
        let text = to_json(&items, "store");
        assert!(text.starts_with("{\"items\":[{\"id\":1,\"name\":\"Watertight door\""));
        assert!(text.ends_with(",\"served_by\":\"store\"}"));
        assert_eq!(from_json(&text).expect("decodes"), items);
    }

    #[test]
    fn from_json_reports_bad_catalogs() {
        assert!(from_json("{}").is_err());
        assert!(from_json("{\"items\":[{\"id\":1}]}").is_err());
        assert!(from_json("{\"items\":[{\"id\":-1,\"name\":\"x\",\"price_cents\":1}]}").is_err());
        assert_eq!(from_json("{\"items\":[]}"), Ok(vec![]));
    }

    #[test]
    fn renders_escaped_html() {
        let items = vec![Item {
            id: 7,
            name: "<script>alert('x')</script>".into(),
            price_cents: 1_205,
        }];
        let html = render_page(&items);
        assert!(html.contains("<title>Bulkhead shop</title>"));
        assert!(html.contains(
            "<li data-id=\"7\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &mdash; $12.05</li>"
        ));
        assert!(!html.contains("<script>"));
        let err = render_error_page("connect to api:8081 failed & <timeout>");
        assert!(err.contains("failed &amp; &lt;timeout&gt;"));
    }

    #[test]
    fn formats_prices() {
        assert_eq!(format_price(0), "0.00");
        assert_eq!(format_price(5), "0.05");
        assert_eq!(format_price(129_900), "1299.00");
    }
}
