//! The `configurations` field: files of custom field specs, read through the
//! kustomization's loader (root restriction, boundary, size limits) and
//! merged into kustomize's defaults.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::target::Target;
use crate::transformer_config::{TransformerConfig, default_config};

/// The config a kustomization adds: the defaults when it lists no
/// `configurations`, else the defaults merged with every file, in order.
pub(crate) fn load(t: &Target<'_>) -> Result<Arc<TransformerConfig>> {
    let entries = &t.kustomization.configurations;
    if entries.is_empty() {
        return Ok(Arc::clone(default_config()));
    }
    let mut custom = TransformerConfig::default();
    for (i, entry) in entries.iter().enumerate() {
        if entry.contains("://") {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "configurations[{i}]: remote file '{entry}' is not supported (only local files)"
                ),
            ));
        }
        let (real, text) =
            t.loader
                .read_field_file(entry, &t.file, &format!("configurations[{i}]"))?;
        let first = crate::yaml_io::parse_documents(&text, &real, &t.loader.limits)?
            .into_iter()
            .next()
            .unwrap_or(serde_json::Value::Null);
        let one = TransformerConfig::from_value(&first, &real)?;
        one.check_size(&real)?;
        custom
            .merge(&one)
            .map_err(|e| Error::invalid(&real, format!("configurations[{i}]: {e}")))?;
        custom.check_size(&real)?;
    }
    // kustomize merges the files into an empty config, then that into the defaults.
    let mut merged = (**default_config()).clone();
    merged.merge(&custom).map_err(|e| {
        Error::invalid(
            &t.file,
            format!("configurations: merging with the default config: {e}"),
        )
    })?;
    Ok(Arc::new(merged))
}
