//! The XML forms of GeoReport v2 answers, written from the same JSON values as the `.json` forms:
//! objects become elements, a list inside an element repeats a child named by the spec
//! (`attributes` → `attribute`, `values` → `value`, `endpoints` → `endpoint`, `formats` → `format`).

use serde_json::Value;

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry these at all (its `Char` production), not even as references:
            // the C0 controls but tab, LF and CR, and U+FFFE and U+FFFF. (A Rust string holds
            // no surrogates.)
            c if !xml_char(c) => {}
            c => out.push(c),
        }
    }
}

/// Whether XML 1.0 allows `c` in a document.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn child_of(list: &str) -> &str {
    match list {
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

fn write(name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            for i in items {
                write(child_of(name), i, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                write(k, v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => {
            out.push_str(&format!("<{name}>"));
            escape(s, out);
            out.push_str(&format!("</{name}>"));
        }
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// A list answer: `<root><item>…</item>…</root>`.
pub fn document(root: &str, item: &str, list: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.push_str(&format!("<{root}>"));
    for v in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        write(item, v, &mut out);
    }
    out.push_str(&format!("</{root}>"));
    out
}

/// A single-object answer: `<root>…</root>`.
pub fn element(root: &str, v: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write(root, v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn lists_repeat_their_items_and_text_is_escaped() {
        let x = super::document("errors", "error", &json!([{"code": 403, "description": "bad <key> & more"}]));
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><errors><error><code>403</code><description>bad &lt;key&gt; &amp; more</description></error></errors>"
        );
        let d = super::element(
            "service_definition",
            &json!({"service_code": "a.b", "attributes": [{"code": "x", "values": [{"key": "1", "name": "一"}]}]}),
        );
        assert!(d.contains("<attributes><attribute><code>x</code><values><value><key>1</key><name>一</name></value></values></attribute></attributes>"), "{d}");
    }

    #[test]
    fn code_points_xml_forbids_are_dropped() {
        let x = super::document(
            "a",
            "b",
            &json!([{"c": "x\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}\t\n\r\u{fffe}\u{ffff}\u{fffd}\u{7f}\u{d7ff}\u{e000}\u{10ffff}y"}]),
        );
        assert!(x.ends_with("<a><b><c>x\t\n\r\u{fffd}\u{7f}\u{d7ff}\u{e000}\u{10ffff}y</c></b></a>"), "{x:?}");
    }
}
