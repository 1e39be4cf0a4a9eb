//! Measuring a YAML stream from its parser events, before anything is built:
//! the size every anchor stands for, what aliases produce (nodes and scalar
//! bytes), and nesting depth. An alias is charged the full size of its anchor
//! (aliases inside anchors included) before it is expanded, so a "billion
//! laughs" document or a large string aliased many times is refused while
//! the meter holds a few numbers per anchor.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

use crate::limits::{Limits, YAML_NODE_BYTES};

/// A limit a document went past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exceeded {
    /// What went past the limit.
    pub message: String,
    /// The limit, as `name=value`.
    pub limit: String,
}

/// Size of a node once expanded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Size {
    nodes: u64,
    bytes: u64,
    depth: usize,
}

impl Size {
    /// What the node counts for in alias accounting.
    pub fn weight(&self) -> u64 {
        self.nodes
            .saturating_mul(YAML_NODE_BYTES)
            .saturating_add(self.bytes)
    }

    fn add(&mut self, child: Size) {
        self.nodes = self.nodes.saturating_add(child.nodes);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.depth = self.depth.max(child.depth.saturating_add(1));
    }
}

/// Running measure of one YAML stream.
#[derive(Debug)]
pub(crate) struct Meter {
    limits: Limits,
    /// Open containers: their size so far and their anchor (0: none).
    open: Vec<(Size, usize)>,
    /// Size of every anchored node, by the parser's anchor id.
    anchors: HashMap<usize, Size>,
    /// Weight of the nodes written in the document itself.
    own: u64,
    /// Weight of what aliases produced.
    aliased: u64,
}

impl Meter {
    /// A meter for one stream.
    pub fn new(limits: &Limits) -> Meter {
        Meter {
            limits: *limits,
            open: Vec::new(),
            anchors: HashMap::new(),
            own: 0,
            aliased: 0,
        }
    }

    /// Accounts for one event (an alias before it is expanded).
    pub fn event(&mut self, event: &Event<'_>) -> Result<(), Exceeded> {
        match event {
            Event::Scalar(text, _, anchor, _) => {
                let size = Size {
                    nodes: 1,
                    bytes: text.len() as u64,
                    depth: 0,
                };
                self.own = self.own.saturating_add(size.weight());
                self.close(size, *anchor);
                Ok(())
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.check_depth(self.open.len() + 1)?;
                self.own = self.own.saturating_add(YAML_NODE_BYTES);
                self.open.push((
                    Size {
                        nodes: 1,
                        bytes: 0,
                        depth: 0,
                    },
                    *anchor,
                ));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((size, anchor)) = self.open.pop() {
                    self.close(size, anchor);
                }
                Ok(())
            }
            Event::Alias(id) => {
                // An unknown anchor is the parser's error to report.
                let size = self.anchors.get(id).copied().unwrap_or_default();
                self.check_depth(self.open.len() + size.depth)?;
                self.aliased = self.aliased.saturating_add(size.weight());
                let allowance = self.limits.alias_allowance(self.own);
                if self.aliased > allowance {
                    return Err(Exceeded {
                        message: format!(
                            "document contains excessive aliasing: aliases expand to more than {allowance} bytes"
                        ),
                        limit: format!("max-yaml-alias-bytes={}", self.limits.max_yaml_alias_bytes),
                    });
                }
                self.close(size, 0);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), Exceeded> {
        if depth > self.limits.max_yaml_depth {
            Err(Exceeded {
                message: format!("nesting deeper than {} levels", self.limits.max_yaml_depth),
                limit: format!("max-yaml-depth={}", self.limits.max_yaml_depth),
            })
        } else {
            Ok(())
        }
    }

    /// A complete node: remembered under its anchor, added to its parent.
    fn close(&mut self, size: Size, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, size);
        }
        if let Some((parent, _)) = self.open.last_mut() {
            parent.add(size);
        }
    }
}

/// Measures a whole stream without building it. `Ok(Err(_))`: the stream is
/// refused by a limit; `Err(())`: this parser could not read it (the caller's
/// own parser then reports the syntax error, under its own bounds).
pub(crate) fn measure(text: &str, limits: &Limits) -> Result<Result<(), Exceeded>, ()> {
    let mut meter = Meter::new(limits);
    for item in Parser::new_from_str(text) {
        let Ok((event, _)) = item else {
            return Err(());
        };
        if let Err(e) = meter.event(&event) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laughs(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text
    }

    #[test]
    fn small_aliasing_is_accepted() {
        let text = "base: &b {x: 1, y: [1, 2]}\nuse1: *b\nuse2: *b\n";
        assert_eq!(measure(text, &Limits::default()), Ok(Ok(())));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let Ok(Err(e)) = measure(&laughs(9), &Limits::default()) else {
            panic!("accepted");
        };
        assert!(e.message.contains("excessive aliasing"), "{e:?}");
        assert!(e.limit.starts_with("max-yaml-alias-bytes="), "{e:?}");
    }

    #[test]
    fn aliases_cannot_nest_deeper_than_the_limit() {
        let limits = Limits {
            max_yaml_depth: 10,
            ..Limits::default()
        };
        let text = "a: &a [[[[[[x]]]]]]\nb: [[[[[*a]]]]]\n";
        let Ok(Err(e)) = measure(text, &limits) else {
            panic!("accepted");
        };
        assert!(e.limit.starts_with("max-yaml-depth="), "{e:?}");
    }
}
