//! Git for ImageUpdateAutomation: persistent working clones, commit, push with one
//! fetch-rebase-retry, through the system `git` (see [`working_clone`] for why).

mod command;
mod transport;
pub mod working_clone;

pub use command::{Git, GitCredentials, GitOutput, Transport, error_line, operation};
pub use transport::transport_for;
pub use working_clone::{Author, WorkingClone, WorkingClones, clone_dir};
