//! `spec.filterTags`: keep the tags matching `pattern`, order them by the value `extract`
//! builds from the match (`$ts`, `${ts}`, `$1`, as Go's `Regexp.Expand`).

use regex::Regex;

use crate::Error;

/// A compiled tag filter.
#[derive(Clone, Debug)]
pub struct TagFilter {
    pattern: Regex,
    extract: Option<String>,
}

impl TagFilter {
    /// Compiles `spec.filterTags`; errors name the field.
    pub fn new(pattern: &str, extract: Option<&str>) -> Result<Self, Error> {
        let compiled = Regex::new(pattern).map_err(|e| Error::InvalidRegex {
            field: "spec.filterTags.pattern".to_owned(),
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(TagFilter {
            pattern: compiled,
            extract: extract.filter(|e| !e.is_empty()).map(str::to_owned),
        })
    }

    /// The value to order `tag` by, or `None` when the tag does not match. `buffer` is reused
    /// between calls to avoid an allocation per tag.
    pub fn value<'t>(&self, tag: &'t str, buffer: &'t mut String) -> Option<&'t str> {
        match &self.extract {
            None => self.pattern.is_match(tag).then_some(tag),
            Some(template) => {
                let captures = self.pattern.captures(tag)?;
                buffer.clear();
                captures.expand(template, buffer);
                Some(buffer.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_named_groups() {
        let f = TagFilter::new(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$", Some("$ts")).unwrap();
        let mut buf = String::new();
        assert_eq!(
            f.value("main-abc123-1700000000", &mut buf),
            Some("1700000000")
        );
        assert_eq!(f.value("dev-abc123-1700000000", &mut buf), None);
        let braces = TagFilter::new(r"^v(?P<v>.*)-(?P<n>\d+)$", Some("${v}.${n}")).unwrap();
        assert_eq!(braces.value("v1.2-7", &mut buf), Some("1.2.7"));
        let whole = TagFilter::new(r"^1\.", None).unwrap();
        assert_eq!(whole.value("1.4.0", &mut buf), Some("1.4.0"));
    }

    #[test]
    fn invalid_pattern_names_the_field() {
        let err = TagFilter::new("^(unclosed", None).unwrap_err().to_string();
        assert!(
            err.contains("spec.filterTags.pattern") && err.contains("^(unclosed"),
            "{err}"
        );
    }
}
