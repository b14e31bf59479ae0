//! Where callbacks may go: not into the platform's own network.
//!
//! The address rules are `bus::address_policy`'s (shared with the
//! executors' outgoing HTTP), with the operator's `FAAS_CALLBACK_ALLOW`
//! (CIDRs or host names). The check runs where the connection is made:
//! [`PolicyResolver`] is the HTTP client's DNS resolver, so the addresses
//! checked are the addresses connected to, and a name that resolves
//! differently a moment later (DNS rebinding) gains nothing. Literal IP
//! hosts never reach a resolver and are checked with
//! [`CallbackPolicy::check_ip`] before the request.

use std::net::SocketAddr;
use std::sync::Arc;

pub use bus::address_policy::{BadAllowEntry, Refused};

/// What a dispatcher's callbacks may reach.
pub type CallbackPolicy = bus::address_policy::AddressPolicy;

/// The callback policy with `FAAS_CALLBACK_ALLOW`'s entries.
pub fn callback_policy(allow: &[String]) -> Result<CallbackPolicy, BadAllowEntry> {
    CallbackPolicy::new(bus::address_policy::CALLBACKS, allow)
}

/// The HTTP client's DNS resolver for callbacks: resolves with the system's
/// resolver and answers only if every address passes the policy.
#[derive(Debug, Clone)]
pub struct PolicyResolver(pub Arc<CallbackPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !policy.host_allowed(&host) {
                for addr in &addrs {
                    policy.check_ip(&host, addr.ip())?;
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
