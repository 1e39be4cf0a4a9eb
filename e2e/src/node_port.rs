//! Waiting for a NodePort Service on the node to serve, without poisoning the host's
//! connection tracking for the requests that come after.
//!
//! kube-proxy rejects a connection to a NodePort whose Service has no ready endpoint
//! (its `KUBE-EXTERNAL-SERVICES` REJECT rule, in the filter table's INPUT chain). A
//! connection from this host to its own NodePort has, by then, already been recorded by
//! conntrack (entries are confirmed at the end of the output path, before the packet loops
//! back to INPUT): the entry has no DNAT and stays in SYN_SENT for
//! `nf_conntrack_tcp_timeout_syn_sent` (120 s). kube-proxy only deletes stale UDP entries,
//! never TCP ones (kubernetes/kubernetes#48719, #101607). When the kernel later picks the
//! same source port for a new connection to that NodePort, the SYN matches the old entry,
//! is not DNATed, reaches the host's own port, and is refused, although the Service has a
//! Ready endpoint all along. Measured here: 101 refused SYNs while a new Service waited
//! for its pod, and 5 requests 23 s later refused that way while the pod served.
//!
//! A ClusterIP without endpoints is rejected in the filter table's OUTPUT chain, before
//! conntrack confirms the entry, so polling the ClusterIP leaves nothing behind; kube-proxy
//! writes a Service's ClusterIP and NodePort rules in the same `iptables-restore`. So
//! [`wait_node_port_serves`] asks the ClusterIP until it serves, and only then the NodePort.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};

use crate::error::{Error, Result};
use crate::node::http_get;
use crate::poll::poll_until;

/// Where a Service answers: its ClusterIP and service port, and its NodePort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAddresses {
    /// `spec.clusterIP`.
    pub cluster_ip: Ipv4Addr,
    /// The first port's `port`.
    pub port: u16,
    /// The first port's `nodePort`.
    pub node_port: u16,
}

/// Waits (within `timeout` in all) until `GET <path>` answers 200 with body `want`: first
/// on the ClusterIP of Service `namespace/name`, then on its NodePort at `node_ip`. No
/// request goes to the NodePort before the ClusterIP has served (see the module doc).
/// Returns the Service's addresses.
pub async fn wait_node_port_serves(
    client: &Client,
    node_ip: Ipv4Addr,
    namespace: &str,
    name: &str,
    path: &str,
    want: &str,
    timeout: Duration,
) -> Result<ServiceAddresses> {
    let started = Instant::now();
    let remaining = || timeout.saturating_sub(started.elapsed());
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let addresses = poll_until(
        &format!("Service {namespace}/{name} with a ClusterIP and a NodePort"),
        remaining(),
        || async {
            let service = services
                .get_opt(name)
                .await
                .map_err(Error::kube(format!("get Service {namespace}/{name}")))?;
            Ok(service.as_ref().and_then(service_addresses))
        },
    )
    .await?;
    let answers = |address: Ipv4Addr, port: u16| async move {
        let (status, body) = http_get(address, port, path).await?;
        Ok((status == 200 && body == want).then_some(()))
    };
    poll_until(
        &format!(
            "ClusterIP http://{}:{}{path} to answer {want:?}",
            addresses.cluster_ip, addresses.port
        ),
        remaining(),
        || answers(addresses.cluster_ip, addresses.port),
    )
    .await?;
    poll_until(
        &format!(
            "NodePort http://{node_ip}:{}{path} to answer {want:?}",
            addresses.node_port
        ),
        remaining(),
        || answers(node_ip, addresses.node_port),
    )
    .await?;
    Ok(addresses)
}

/// The ClusterIP, port and NodePort of `service`, once it has all three (IPv4).
fn service_addresses(service: &Service) -> Option<ServiceAddresses> {
    let spec = service.spec.as_ref()?;
    let cluster_ip = spec.cluster_ip.as_deref()?.parse().ok()?;
    let port = spec.ports.as_ref()?.first()?;
    Some(ServiceAddresses {
        cluster_ip,
        port: u16::try_from(port.port).ok()?,
        node_port: u16::try_from(port.node_port?)
            .ok()
            .filter(|port| *port != 0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        serde_norway::from_str(yaml).expect("Service YAML")
    }

    #[test]
    fn addresses_of_a_node_port_service() {
        let addresses = service_addresses(&service(
            "metadata: {name: web}\nspec: {type: NodePort, clusterIP: 10.96.0.20, ports: [{port: 3000, nodePort: 30001}]}",
        ));
        assert_eq!(
            addresses,
            Some(ServiceAddresses {
                cluster_ip: Ipv4Addr::new(10, 96, 0, 20),
                port: 3000,
                node_port: 30001
            })
        );
    }

    #[test]
    fn no_addresses_before_the_cluster_ip_and_node_port_are_assigned() {
        for yaml in [
            "metadata: {name: web}\nspec: {type: NodePort, ports: [{port: 3000, nodePort: 30001}]}",
            "metadata: {name: web}\nspec: {type: ClusterIP, clusterIP: 10.96.0.20, ports: [{port: 3000}]}",
            "metadata: {name: web}\nspec: {clusterIP: None, ports: [{port: 3000, nodePort: 30001}]}",
            "metadata: {name: web}\nspec: {clusterIP: 10.96.0.20}",
        ] {
            assert_eq!(service_addresses(&service(yaml)), None, "{yaml}");
        }
    }
}
