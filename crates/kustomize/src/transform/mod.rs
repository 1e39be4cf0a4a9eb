//! Built-in transformers applied by each kustomization, in kustomize's order.

pub(crate) mod images;
pub(crate) mod labels;
pub(crate) mod name_affix;
pub(crate) mod namespace;
pub(crate) mod replicas;
