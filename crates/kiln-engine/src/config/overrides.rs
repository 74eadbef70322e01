//! `--set key.path=value` overrides.

use std::path::Path;

/// Applies one `key.path=value` to `table`; returns the key as an error path
/// (`stages[0].trials`). The value is read as a TOML value (`3`, `1e-3`, `true`,
/// `"text"`, `[1, 2]`) and, failing that, taken as a string. A string set on a key named
/// `path` (or ending in `_path` or `_dir`) is made absolute against the current folder,
/// since the user typed it relative to where they stand, not to the pipeline file.
/// In `stages.NAME.key`, `NAME` may be a stage's `name` (or `kind`) instead of its index;
/// in `augment.KIND.key`, `KIND` selects the first augmenter of that kind (the name a
/// searched `augment.KIND.param` uses), or an index. `stages[1].epochs`, the form error
/// messages print, means `stages.1.epochs`.
pub fn apply_override(table: &mut toml::Table, set: &str) -> Result<String, String> {
    let (key, raw) = set.split_once('=').ok_or("expected key.path=value")?;
    let key = key.trim();
    if key.is_empty() {
        return Err("empty key".into());
    }
    let mut value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let key = key.replace('[', ".").replace(']', "");
    let parts: Vec<&str> = key.split('.').collect();
    let last = parts.last().copied().unwrap_or_default();
    let path_like = last == "path" || last.ends_with("_path") || last.ends_with("_dir");
    if let (true, toml::Value::String(s), Ok(cwd)) = (path_like, &value, std::env::current_dir())
        && Path::new(s).is_relative()
    {
        value = toml::Value::String(cwd.join(s).to_string_lossy().into_owned());
    }
    let mut error_path = String::new();
    let mut cur = table;
    let mut i = 0;
    while i < parts.len() - 1 {
        let part = parts[i];
        // The two lists of tables a user reaches into: stages and (top level) augmenters.
        let list = match part {
            "stages" => Some(("the pipeline has no [[stages]]", "stage")),
            "augment" if i == 0 => Some(("the pipeline has no `augment` list", "augmenter")),
            _ => None,
        };
        if let Some((missing, what)) = list
            && i + 1 < parts.len() - 1
        {
            let sel = parts[i + 1];
            let items = cur
                .get_mut(part)
                .and_then(toml::Value::as_array_mut)
                .ok_or(missing)?;
            let idx = match sel.parse::<usize>() {
                Ok(n) => n,
                Err(_) => items
                    .iter()
                    .position(|s| {
                        let name = s
                            .get("name")
                            .or_else(|| s.get("kind"))
                            .and_then(toml::Value::as_str);
                        name == Some(sel)
                    })
                    .ok_or_else(|| format!("no {what} named `{sel}`"))?,
            };
            let item = items
                .get_mut(idx)
                .and_then(toml::Value::as_table_mut)
                .ok_or_else(|| format!("no {what} {idx}"))?;
            error_path = format!("{part}[{idx}]");
            cur = item;
            i += 2;
            continue;
        }
        if !error_path.is_empty() {
            error_path.push('.');
        }
        error_path.push_str(part);
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{error_path}` is not a table"))?;
        i += 1;
    }
    cur.insert(last.to_string(), value);
    if !error_path.is_empty() {
        error_path.push('.');
    }
    error_path.push_str(last);
    Ok(error_path)
}
