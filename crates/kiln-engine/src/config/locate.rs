//! Finding the line of a key path such as `stages[1].space."optimizer.lr".low`.

use toml::de::{DeTable, DeValue};

/// Splits a key path into segments: names (quoted or bare) and `[index]`es.
fn segments(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '.' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let idx: String = chars.by_ref().take_while(|&c| c != ']').collect();
                out.push(format!("[{idx}]"));
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The 1-based line where `key` (or its deepest existing parent) is written in `text`.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for seg in segments(key) {
        if let Some(idx) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let Ok(i) = idx.parse::<usize>() else { break };
            let Some(DeValue::Array(arr)) = value else {
                break;
            };
            let Some(item) = arr.get(i) else { break };
            span = Some(item.span());
            value = Some(item.get_ref());
            table = match item.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
            continue;
        }
        let Some(t) = table else { break };
        let Some((k, v)) = t.iter().find(|(k, _)| k.get_ref().as_ref() == seg) else {
            break;
        };
        span = Some(k.span());
        value = Some(v.get_ref());
        table = match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    let s = span?;
    Some(text[..s.start.min(text.len())].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_array_items() {
        let text = "name = \"x\"\n\n[[stages]]\nkind = \"tune\"\ntrials = 3\n[stages.space]\n\"optimizer.lr\" = { type = \"float\", low = 0 }\n";
        assert_eq!(line_of(text, "name"), Some(1));
        assert_eq!(line_of(text, "stages[0].trials"), Some(5));
        assert_eq!(
            line_of(text, "stages[0].space.\"optimizer.lr\".low"),
            Some(7)
        );
        assert_eq!(line_of(text, "stages[0].nothing"), Some(3));
        assert_eq!(segments("a[2].\"b.c\".d"), vec!["a", "[2]", "b.c", "d"]);
    }
}
