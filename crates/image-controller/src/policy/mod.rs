//! Policy evaluation (pure): which tag of a scanned list an ImagePolicy picks.
//!
//! One pass over the tags, no sorting: each candidate is compared with the best so far.
//! Ties (two tags ordering equal, e.g. `1.0` and `1.0.0`, or equal extracted values) go to
//! the alphabetically greater tag, so the answer never depends on the scan's order.

mod semver_range;
mod tag_filter;

use std::cmp::Ordering;

use driftless_api::image::{ImagePolicyChoice, ImagePolicySpec, SortOrder};
use semver::Version;

pub use semver_range::{SemverRange, parse_version_loose};
pub use tag_filter::TagFilter;

use crate::Error;

/// How tags are ordered.
#[derive(Clone, Debug)]
pub enum TagOrder {
    /// The highest version within the range.
    Semver(SemverRange),
    /// Alphabetical order.
    Alphabetical(SortOrder),
    /// Numerical order (tags parsed as floating point numbers, as Flux does).
    Numerical(SortOrder),
}

/// A compiled ImagePolicy: ordering plus optional filter.
#[derive(Clone, Debug)]
pub struct Selector {
    ordering: TagOrder,
    filter: Option<TagFilter>,
}

impl Selector {
    /// Compiles an ImagePolicy spec. Errors name the field at fault.
    pub fn from_spec(spec: &ImagePolicySpec) -> Result<Self, Error> {
        let ordering = ordering_from_choice(&spec.policy)?;
        let filter = spec
            .filter_tags
            .as_ref()
            .map(|f| TagFilter::new(&f.pattern, f.extract.as_deref()))
            .transpose()?;
        Ok(Selector { ordering, filter })
    }

    /// A selector from its parts.
    pub fn new(ordering: TagOrder, filter: Option<TagFilter>) -> Self {
        Selector { ordering, filter }
    }

    /// The tag the policy picks from `tags`, or `None` when no tag qualifies.
    pub fn latest<'t, S: AsRef<str>>(&self, tags: &'t [S]) -> Result<Option<&'t str>, Error> {
        let mut buffer = String::new();
        match &self.ordering {
            TagOrder::Semver(range) => {
                let mut best: Option<(Version, &str)> = None;
                for tag in tags {
                    let tag = tag.as_ref();
                    let Some(value) = self.value(tag, &mut buffer) else {
                        continue;
                    };
                    let Some(version) = parse_version_loose(value) else {
                        continue;
                    };
                    if !range.matches(&version) {
                        continue;
                    }
                    let better = match &best {
                        None => true,
                        Some((v, t)) => {
                            version.cmp_precedence(v).then_with(|| tag.cmp(t)) == Ordering::Greater
                        }
                    };
                    if better {
                        best = Some((version, tag));
                    }
                }
                Ok(best.map(|(_, t)| t))
            }
            TagOrder::Alphabetical(order) => {
                let mut best: Option<(String, &str)> = None;
                for tag in tags {
                    let tag = tag.as_ref();
                    let Some(value) = self.value(tag, &mut buffer) else {
                        continue;
                    };
                    let better = match &best {
                        None => true,
                        Some((v, t)) => wins(*order, value.cmp(v.as_str()), tag, t),
                    };
                    if better {
                        best = Some((value.to_owned(), tag));
                    }
                }
                Ok(best.map(|(_, t)| t))
            }
            TagOrder::Numerical(order) => {
                let mut best: Option<(f64, &str)> = None;
                for tag in tags {
                    let tag = tag.as_ref();
                    let Some(value) = self.value(tag, &mut buffer) else {
                        continue;
                    };
                    let number: f64 = value
                        .parse()
                        .ok()
                        .filter(|n: &f64| !n.is_nan())
                        .ok_or_else(|| Error::NotANumber {
                            tag: tag.to_owned(),
                            value: value.to_owned(),
                        })?;
                    let better = match &best {
                        None => true,
                        Some((n, t)) => wins(*order, number.total_cmp(n), tag, t),
                    };
                    if better {
                        best = Some((number, tag));
                    }
                }
                Ok(best.map(|(_, t)| t))
            }
        }
    }

    fn value<'t>(&self, tag: &'t str, buffer: &'t mut String) -> Option<&'t str> {
        match &self.filter {
            None => Some(tag),
            Some(filter) => filter.value(tag, buffer),
        }
    }
}

/// Whether a candidate comparing `by_value` to the best so far replaces it.
fn wins(order: SortOrder, by_value: Ordering, tag: &str, best_tag: &str) -> bool {
    let by_value = match order {
        SortOrder::Asc => by_value,
        SortOrder::Desc => by_value.reverse(),
    };
    by_value.then_with(|| tag.cmp(best_tag)) == Ordering::Greater
}

fn ordering_from_choice(choice: &ImagePolicyChoice) -> Result<TagOrder, Error> {
    match (&choice.semver, &choice.alphabetical, &choice.numerical) {
        (Some(semver), None, None) => SemverRange::parse(&semver.range)
            .map(TagOrder::Semver)
            .map_err(|reason| Error::InvalidRange {
                field: "spec.policy.semver.range".to_owned(),
                range: semver.range.clone(),
                reason,
            }),
        (None, Some(alpha), None) => Ok(TagOrder::Alphabetical(alpha.order)),
        (None, None, Some(num)) => Ok(TagOrder::Numerical(num.order)),
        (None, None, None) => Err(Error::InvalidSpec(
            "spec.policy: one of semver, alphabetical or numerical is required".to_owned(),
        )),
        _ => Err(Error::InvalidSpec(
            "spec.policy: only one of semver, alphabetical or numerical may be set".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests;
