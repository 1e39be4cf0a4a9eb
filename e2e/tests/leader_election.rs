//! Leader election against the real API server: two candidates in one process compete for
//! one Lease with the production timings (15 s lease, 10 s renew deadline, 2 s retry).

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_e2e::{ControlPlane, Error, TestNamespace, poll_until};
use driftless_runtime::leader::{LeaderElector, LeaseTimings};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use kube::{Api, Client};

const LEASE_NAME: &str = driftless_runtime::leader::DEFAULT_LEASE_NAME;

fn candidate(client: &Client, namespace: &str, identity: &str) -> Arc<LeaderElector> {
    Arc::new(
        LeaderElector::new(
            client.clone(),
            namespace,
            LEASE_NAME,
            identity.to_owned(),
            LeaseTimings::default(),
        )
        .expect("valid timings"),
    )
}

async fn read_lease(client: &Client, namespace: &str) -> Lease {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get(LEASE_NAME)
        .await
        .expect("read the Lease")
}

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone()
}

fn renew_time(lease: &Lease) -> Option<String> {
    let time = lease.spec.as_ref()?.renew_time.as_ref()?;
    Some(time.0.to_string())
}

/// Waits until the leader has renewed the Lease `renewals` times (renewTime changed), and
/// checks on every poll that `holder_identity` still holds it and `follower` still waits.
async fn watch_renewals(
    client: &Client,
    namespace: &str,
    holder_identity: &str,
    follower: &tokio::task::JoinHandle<()>,
    renewals: usize,
) {
    let api = Api::<Lease>::namespaced(client.clone(), namespace);
    let mut last = renew_time(&read_lease(client, namespace).await);
    for _ in 0..renewals {
        last = poll_until(
            "the leader to renew its Lease",
            Duration::from_secs(5),
            || {
                let (api, last) = (api.clone(), last.clone());
                async move {
                    let lease = api
                        .get(LEASE_NAME)
                        .await
                        .map_err(Error::kube("read the Lease"))?;
                    assert_eq!(holder(&lease).as_deref(), Some(holder_identity));
                    assert!(
                        !follower.is_finished(),
                        "the follower acquired a held Lease"
                    );
                    let renewed = renew_time(&lease);
                    Ok((renewed != last).then_some(renewed))
                }
            },
        )
        .await
        .expect("a renewal every 2 s while the follower waits");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_candidate_wins_and_a_release_hands_over_at_once() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let client = plane.client().expect("admin client");
    let namespace = TestNamespace::create(plane, "leader")
        .await
        .expect("test namespace");
    let ns = namespace.name();
    let a = candidate(&client, ns, "candidate-a");
    let b = candidate(&client, ns, "candidate-b");

    // Both race for the (not yet existing) Lease: exactly one create succeeds.
    let (a_won, b_won) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
    let (a_won, b_won) = (a_won.expect("a's attempt"), b_won.expect("b's attempt"));
    assert!(
        a_won ^ b_won,
        "exactly one candidate wins: a={a_won} b={b_won}"
    );
    let (leader, follower) = if a_won { (a, b) } else { (b, a) };
    assert!(leader.is_leader() && !follower.is_leader());
    let first = read_lease(&client, ns).await;
    assert_eq!(holder(&first).as_deref(), Some(leader.identity()));
    assert_eq!(
        first.spec.as_ref().and_then(|s| s.lease_duration_seconds),
        Some(15)
    );

    let renewing = tokio::spawn({
        let leader = leader.clone();
        async move { leader.keep_leading().await }
    });
    let waiting = tokio::spawn({
        let follower = follower.clone();
        async move { follower.acquire().await }
    });
    watch_renewals(&client, ns, leader.identity(), &waiting, 2).await;
    assert!(leader.is_leader());

    // Graceful shutdown: stop renewing, release; the follower takes over within 3 s.
    renewing.abort();
    leader.release().await.expect("release the Lease");
    assert!(!leader.is_leader());
    let released_at = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("the follower acquires within 3 s of the release")
        .expect("acquire task");
    let handover = released_at.elapsed();
    assert!(follower.is_leader());
    let taken = read_lease(&client, ns).await;
    assert_eq!(holder(&taken).as_deref(), Some(follower.identity()));
    assert_eq!(
        taken.spec.as_ref().and_then(|s| s.lease_transitions),
        Some(1)
    );
    eprintln!("handover after release: {handover:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_stops_renewing_is_replaced_after_the_lease_expires() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let client = plane.client().expect("admin client");
    let namespace = TestNamespace::create(plane, "leader")
        .await
        .expect("test namespace");
    let ns = namespace.name();
    let leader = candidate(&client, ns, "crashing-leader");
    let follower = candidate(&client, ns, "survivor");

    tokio::time::timeout(Duration::from_secs(5), leader.acquire())
        .await
        .expect("a free Lease is acquired at once");
    let renewing = tokio::spawn({
        let leader = leader.clone();
        async move { leader.keep_leading().await }
    });
    let waiting = tokio::spawn({
        let follower = follower.clone();
        async move { follower.acquire().await }
    });
    // The follower must have seen the leader renew, or its expiry clock would start later.
    watch_renewals(&client, ns, leader.identity(), &waiting, 1).await;

    // A crash: renewals stop, nothing is released.
    renewing.abort();
    drop(leader);
    let stopped_at = Instant::now();
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the follower takes over within 20 s")
        .expect("acquire task");
    let takeover = stopped_at.elapsed();
    // It waited for the lease duration since the last renewal it saw (at most one retry
    // period, 2 s, before the crash), not less.
    assert!(
        takeover >= Duration::from_secs(12),
        "took over after {takeover:?}, before the 15 s lease could have expired"
    );
    assert!(follower.is_leader());
    assert_eq!(
        holder(&read_lease(&client, ns).await).as_deref(),
        Some(follower.identity())
    );
    eprintln!("takeover after the leader stopped renewing: {takeover:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_learns_it_lost_leadership() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let client = plane.client().expect("admin client");
    let namespace = TestNamespace::create(plane, "leader")
        .await
        .expect("test namespace");
    let ns = namespace.name();
    let leader = candidate(&client, ns, "deposed");
    tokio::time::timeout(Duration::from_secs(5), leader.acquire())
        .await
        .expect("a free Lease is acquired at once");

    let renewing = tokio::spawn({
        let leader = leader.clone();
        async move { leader.keep_leading().await }
    });
    // Someone else writes the Lease (as a candidate with a skewed view would).
    let api = Api::<Lease>::namespaced(client.clone(), ns);
    poll_until("the Lease overwritten", Duration::from_secs(5), || {
        let api = api.clone();
        async move {
            let mut lease = api
                .get(LEASE_NAME)
                .await
                .map_err(Error::kube("read the Lease"))?;
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = Some("intruder".to_owned());
            }
            // A conflict with a renewal in between is retried.
            Ok(api
                .replace(LEASE_NAME, &PostParams::default(), &lease)
                .await
                .ok())
        }
    })
    .await
    .expect("overwrite the holder");

    let lost = tokio::time::timeout(Duration::from_secs(5), renewing)
        .await
        .expect("loss noticed at the next renewal (2 s)")
        .expect("renew task");
    assert!(lost.reason.contains("intruder"), "{lost}");
    assert!(
        lost.reason.contains(&format!("{ns}/{LEASE_NAME}")),
        "{lost}"
    );
    assert!(!leader.is_leader());
    // Stepping down does not clear someone else's Lease.
    leader.release().await.expect("release is a no-op");
    assert_eq!(
        holder(&read_lease(&client, ns).await).as_deref(),
        Some("intruder")
    );
}
