//! The apply engine against the real kube-apiserver of `e2e/` (no controller manager:
//! no pods, no garbage collection, namespaces stay Terminating).

mod apply_cycle;
mod dry_run;
mod force;
mod health;
mod ignore;
mod policies;
mod prune;
mod staging;
mod support;
mod tenancy;
