//! A fresh namespace per test, deleted when the test ends.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client, Config};

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};

/// A namespace with a generated name (`e2e-<prefix>-xxxxx`), deleted on drop,
/// also when the test panics.
///
/// Without a controller manager the namespace stays `Terminating` after the
/// delete (nothing empties it), which does not disturb other tests: each
/// gets its own name.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    config: Config,
}

impl TestNamespace {
    /// Creates the namespace on `plane`.
    pub async fn create(plane: &ControlPlane, prefix: &str) -> Result<Self> {
        let client = plane.client()?;
        let namespace = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("e2e-{prefix}-")),
                labels: Some([(String::from("driftless.dev/e2e"), String::from("true"))].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let created = Api::<Namespace>::all(client)
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(Error::kube(format!("create namespace e2e-{prefix}-*")))?;
        let name = created.metadata.name.ok_or_else(|| Error::Document {
            document: format!("namespace e2e-{prefix}-*"),
            detail: String::from("the server returned no name"),
        })?;
        Ok(Self {
            name,
            config: plane.config().clone(),
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down:
        // delete from a thread with its own small runtime and wait for it.
        let name = self.name.clone();
        let config = self.config.clone();
        let deleted = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async move {
                let client = Client::try_from(config).map_err(|error| error.to_string())?;
                match Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::default())
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                    Err(error) => Err(error.to_string()),
                }
            })
        })
        .join();
        if let Ok(Err(error)) = deleted {
            eprintln!("TestNamespace: deleting namespace {}: {error}", self.name);
        }
    }
}
