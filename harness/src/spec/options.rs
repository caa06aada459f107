//! The option-string grammar shared by backend specs and access patterns:
//! `kind[:item,item,...]` where an item is `key=value` or a bare `flag`.
//! Kinds and their options are described as data (`KindInfo`), so parsing, validation,
//! error messages and `faultline list` all come from one table.

use std::fmt::Write as _;

/// What one option of a kind accepts.
#[derive(Debug, Clone, Copy)]
pub enum OptForm {
    /// A bare word, e.g. `populate`.
    Flag,
    /// `key=value` where value is one of a fixed set.
    Choice(&'static [&'static str]),
    /// `key=value` with a free-form value checked by the kind's own parser
    /// (the text is shown as the expected form, e.g. "SIZE" or "N").
    Value(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct OptInfo {
    pub name: &'static str,
    pub form: OptForm,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub options: &'static [OptInfo],
}

/// A parsed option string, checked against its kind's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptString {
    pub kind: String,
    pub items: Vec<(String, Option<String>)>,
}

impl OptString {
    pub fn flag(&self, name: &str) -> bool {
        self.items.iter().any(|(k, v)| k == name && v.is_none())
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|(k, v)| k == name && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Parse `text` and check it against `kinds`. `what` names the thing in messages
/// ("backend", "pattern").
pub fn parse(text: &str, kinds: &[KindInfo], what: &str) -> Result<OptString, String> {
    let text = text.trim();
    let (kind, rest) = match text.split_once(':') {
        Some((k, r)) => (k.trim(), Some(r)),
        None => (text, None),
    };
    let info = kinds.iter().find(|k| k.name == kind).ok_or_else(|| {
        let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
        if kind.is_empty() {
            format!("empty {what}; expected one of: {}", names.join(", "))
        } else {
            format!(
                "unknown {what} `{kind}`; expected one of: {} (`faultline list` describes them)",
                names.join(", ")
            )
        }
    })?;
    let mut items = Vec::new();
    if let Some(rest) = rest {
        if rest.trim().is_empty() {
            return Err(format!(
                "{what} `{text}` has a `:` but no options; {}",
                describe_options(info)
            ));
        }
        for item in rest.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("{what} `{text}` has an empty option (two commas?)"));
            }
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            let opt = info.options.iter().find(|o| o.name == key).ok_or_else(|| {
                format!(
                    "{what} `{kind}` has no option `{key}`; {}",
                    describe_options(info)
                )
            })?;
            match (opt.form, value) {
                (OptForm::Flag, None) => {}
                (OptForm::Flag, Some(v)) => {
                    return Err(format!(
                        "option `{key}` of {what} `{kind}` is a flag and takes no value (got `{key}={v}`); write just `{key}`"
                    ))
                }
                (OptForm::Choice(_) | OptForm::Value(_), None) => {
                    return Err(format!(
                        "option `{key}` of {what} `{kind}` needs a value: {}",
                        form_text(opt)
                    ))
                }
                (OptForm::Choice(allowed), Some(v)) => {
                    if !allowed.contains(&v) {
                        return Err(format!(
                            "`{key}={v}` is not allowed for {what} `{kind}`; {key} must be one of: {}",
                            allowed.join(", ")
                        ));
                    }
                }
                (OptForm::Value(_), Some(v)) => {
                    if v.is_empty() {
                        return Err(format!(
                            "option `{key}` of {what} `{kind}` has an empty value: {}",
                            form_text(opt)
                        ));
                    }
                }
            }
            if items
                .iter()
                .any(|(k, _): &(String, Option<String>)| k == key)
            {
                return Err(format!("{what} `{text}` gives option `{key}` twice"));
            }
            items.push((key.to_string(), value.map(str::to_string)));
        }
    }
    Ok(OptString {
        kind: kind.to_string(),
        items,
    })
}

/// `key=a|b|c`, `key=SIZE` or `key`.
pub fn form_text(opt: &OptInfo) -> String {
    match opt.form {
        OptForm::Flag => opt.name.to_string(),
        OptForm::Choice(c) => format!("{}={}", opt.name, c.join("|")),
        OptForm::Value(v) => format!("{}={}", opt.name, v),
    }
}

fn describe_options(info: &KindInfo) -> String {
    if info.options.is_empty() {
        return format!("`{}` takes no options", info.name);
    }
    let forms: Vec<String> = info.options.iter().map(form_text).collect();
    format!("`{}` takes: {}", info.name, forms.join(", "))
}

/// Multi-line description of the kinds for `faultline list`.
pub fn describe_kinds(kinds: &[KindInfo]) -> String {
    let mut out = String::new();
    for k in kinds {
        let _ = writeln!(out, "  {:<12} {}", k.name, k.summary);
        for o in k.options {
            let _ = writeln!(out, "      {:<34} {}", form_text(o), o.help);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: &[KindInfo] = &[
        KindInfo {
            name: "mmap",
            summary: "",
            options: &[
                OptInfo {
                    name: "advice",
                    form: OptForm::Choice(&["normal", "random"]),
                    help: "",
                },
                OptInfo {
                    name: "populate",
                    form: OptForm::Flag,
                    help: "",
                },
                OptInfo {
                    name: "qd",
                    form: OptForm::Value("N"),
                    help: "",
                },
            ],
        },
        KindInfo {
            name: "pread",
            summary: "",
            options: &[],
        },
    ];

    #[test]
    fn parses_kind_flags_and_values() {
        let o = parse("mmap:advice=random,populate", KINDS, "backend").unwrap();
        assert_eq!(o.kind, "mmap");
        assert!(o.flag("populate"));
        assert_eq!(o.value("advice"), Some("random"));
        assert_eq!(o.value("qd"), None);
        let o = parse(" pread ", KINDS, "backend").unwrap();
        assert_eq!(o.kind, "pread");
        assert!(o.items.is_empty());
    }

    #[test]
    fn rejects_with_advice() {
        let e = parse("nope", KINDS, "backend").unwrap_err();
        assert!(
            e.contains("unknown backend `nope`") && e.contains("mmap, pread"),
            "{e}"
        );
        let e = parse("mmap:advice=sideways", KINDS, "backend").unwrap_err();
        assert!(e.contains("normal, random"), "{e}");
        let e = parse("mmap:bogus", KINDS, "backend").unwrap_err();
        assert!(
            e.contains("no option `bogus`") && e.contains("advice=normal|random"),
            "{e}"
        );
        let e = parse("mmap:populate=yes", KINDS, "backend").unwrap_err();
        assert!(e.contains("is a flag"), "{e}");
        let e = parse("mmap:advice", KINDS, "backend").unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = parse("mmap:populate,populate", KINDS, "backend").unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = parse("mmap:", KINDS, "backend").unwrap_err();
        assert!(e.contains("no options"), "{e}");
        let e = parse("pread:x", KINDS, "backend").unwrap_err();
        assert!(e.contains("takes no options"), "{e}");
        assert!(parse("mmap:populate,,", KINDS, "backend").is_err());
        assert!(parse("", KINDS, "backend").is_err());
    }
}
