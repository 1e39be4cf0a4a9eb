//! Setter rewriting (pure apart from reading and writing the files it is pointed at): the
//! scalars marked `# {"$imagepolicy": "<ns>:<policy>"}` (or `:tag`, `:name`) become the image,
//! tag or name the policy chose. Only the value's bytes change; every other byte of the
//! file (comments, order, quoting, line endings) stays identical.

mod marker;
mod tree;

use std::fmt;

use driftless_api::image::ImageRef;

pub use marker::{MarkedField, Marker, MarkerError, PolicyKey, find_markers};
pub use tree::update_tree;

use crate::Error;

/// What the caller knows about a policy named by a marker.
#[derive(Clone, Copy, Debug)]
pub enum PolicyLookup<'a> {
    /// The policy is selected and chose this image: rewrite.
    Image(&'a ImageRef),
    /// The policy exists but is not selected or has chosen nothing yet: leave the value.
    Skip,
    /// No such policy: an error, nothing is written.
    Missing,
}

/// One rewritten value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// File, relative to the repository root.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The policy that chose the new value.
    pub policy: PolicyKey,
    /// The value before.
    pub old: String,
    /// The value after.
    pub new: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} -> {} ({})",
            self.file, self.line, self.old, self.new, self.policy
        )
    }
}

/// Rewrites the marked values of `text` (the content of `file`). Returns the new text,
/// `None` when nothing changed, and the changes. Nothing is returned half-done: any bad
/// marker or missing policy is an error naming `file` and the line.
pub fn rewrite<'p>(
    text: &str,
    file: &str,
    default_namespace: &str,
    lookup: &impl Fn(&PolicyKey) -> PolicyLookup<'p>,
) -> Result<(Option<String>, Vec<Change>), Error> {
    let markers = find_markers(text, default_namespace).map_err(|e| Error::Setter {
        file: file.to_owned(),
        line: e.line,
        reason: e.reason,
    })?;
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut changes = Vec::new();
    for marker in markers {
        let image = match lookup(&marker.policy) {
            PolicyLookup::Image(image) => image,
            PolicyLookup::Skip => continue,
            PolicyLookup::Missing => {
                return Err(Error::Setter {
                    file: file.to_owned(),
                    line: marker.line,
                    reason: format!(
                        "setter marker names ImagePolicy '{}', which does not exist",
                        marker.policy
                    ),
                });
            }
        };
        let new = match marker.field {
            MarkedField::Image => format!("{}:{}", image.name, image.tag),
            MarkedField::Tag => image.tag.clone(),
            MarkedField::Name => image.name.clone(),
        };
        let old = &text[marker.value.clone()];
        if old == new {
            continue;
        }
        out.push_str(&text[copied..marker.value.start]);
        out.push_str(&new);
        copied = marker.value.end;
        changes.push(Change {
            file: file.to_owned(),
            line: marker.line,
            policy: marker.policy,
            old: old.to_owned(),
            new,
        });
    }
    if changes.is_empty() {
        return Ok((None, changes));
    }
    out.push_str(&text[copied..]);
    Ok((Some(out), changes))
}

#[cfg(test)]
mod tests;
