//! Outgoing HTTP from HTTP functions: off unless allowed, and never into
//! the platform's network.
//!
//! A guest's `wasi:http/outgoing-handler.handle` reaches
//! [`OutgoingHooks::send_request`]. A request goes out only when its host is
//! on the call's allow-list (exact names, or `*.example.com` for the names
//! under it; empty, the default, refuses everything) and every address the
//! name resolves to passes the SSRF rules callbacks use
//! ([`bus::address_policy`], with the operator's
//! `FAAS_HTTP_OUTGOING_ADDRESS_ALLOW` for private ranges). Anything else is
//! refused with wasi-http's `HttpRequestDenied`, which the guest sees as the
//! request's error.
//!
//! A plain `http` request is connected to the address that was checked (the
//! URI's authority is replaced by it; the `Host` header keeps the name), so
//! a name that resolves differently a moment later gains nothing. An
//! `https` request needs the name for TLS, and wasi-http's sender resolves
//! it again: for `https` a DNS answer that changes between the check and
//! the connect (rebinding) is not caught. The allow-list of names bounds
//! that gap to hosts the function's owner named.

use std::net::SocketAddr;
use std::sync::Arc;

use bus::address_policy::{AddressPolicy, normal_host};
use http_body_util::BodyExt as _;
use tracing::warn;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The host names one call may send requests to.
#[derive(Debug, Clone, Default)]
pub struct HostAllowList(Vec<String>);

impl HostAllowList {
    /// From a function's configuration: `example.com` (that name only) or
    /// `*.example.com` (the names under it, not `example.com` itself).
    pub fn new(hosts: &[String]) -> Self {
        Self(hosts.iter().map(|host| normal_host(host.trim())).filter(|host| !host.is_empty()).collect())
    }

    /// Whether `host` is listed.
    pub fn allows(&self, host: &str) -> bool {
        let host = normal_host(host);
        self.0.iter().any(|entry| match entry.strip_prefix("*.") {
            Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => *entry == host,
        })
    }
}

/// The wasi-http hooks of one call: its allow-list and the executor's
/// address policy.
pub struct OutgoingHooks {
    hosts: HostAllowList,
    policy: Arc<AddressPolicy>,
}

impl OutgoingHooks {
    /// Hooks allowing `hosts` under `policy`.
    pub fn new(hosts: HostAllowList, policy: Arc<AddressPolicy>) -> Self {
        Self { hosts, policy }
    }
}

type Sent = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for OutgoingHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Sent,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, Sent), HttpError>> + Send> {
        drop(fut);
        let (hosts, policy) = (self.hosts.clone(), self.policy.clone());
        Box::new(async move {
            let uri = request.uri().clone();
            let host =
                uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
            let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            if !hosts.allows(&host) {
                warn!(%host, "outgoing HTTP refused: the host is not on the function's allow-list");
                return Err(HttpError::HttpRequestDenied);
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|err| HttpError::DnsError { rcode: Some(err.to_string()), info_code: None })?
                .collect();
            if !policy.host_allowed(&host) {
                for addr in &addrs {
                    if let Err(refused) = policy.check_ip(&host, addr.ip()) {
                        warn!(%refused, "outgoing HTTP refused");
                        return Err(HttpError::HttpRequestDenied);
                    }
                }
            }
            let checked = *addrs.first().ok_or(HttpError::DestinationNotFound)?;
            if !https {
                // Connect to the address checked, not to a second lookup.
                let mut parts = uri.into_parts();
                parts.authority =
                    Some(checked.to_string().parse().map_err(|_| HttpError::HttpRequestUriInvalid)?);
                *request.uri_mut() =
                    http::Uri::from_parts(parts).map_err(|_| HttpError::HttpRequestUriInvalid)?;
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(|body| body.boxed_unsync()), Box::new(io) as Sent))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::HostAllowList;

    #[test]
    fn hosts_match_exactly_or_under_a_wildcard() {
        let list = HostAllowList::new(&["API.example.com.".into(), "*.svc.test".into(), " ".into()]);
        assert!(list.allows("api.example.com") && list.allows("Api.Example.Com."));
        assert!(!list.allows("example.com") && !list.allows("x.api.example.com"));
        assert!(list.allows("a.svc.test") && list.allows("a.b.svc.test"));
        assert!(!list.allows("svc.test") && !list.allows("evilsvc.test"));
        assert!(!HostAllowList::default().allows("api.example.com"));
    }
}
