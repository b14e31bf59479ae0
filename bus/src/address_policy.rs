//! Where connections made on users' behalf may go: not into the platform's
//! own network.
//!
//! A callback URL, or the URL an HTTP function fetches, is the user's
//! choice, and the platform connects to it from inside its network, so
//! without a policy any user could make it reach loopback services, the
//! cloud metadata endpoint or private hosts (SSRF). Every address a
//! destination resolves to must be public: loopback, private, shared,
//! link-local, multicast, unspecified, documentation and reserved ranges are
//! refused (IPv4 and IPv6, with IPv4 embedded in IPv6 checked as IPv4),
//! unless the operator's allow-list (`FAAS_CALLBACK_ALLOW` for dispatchers'
//! callbacks, `FAAS_HTTP_OUTGOING_ADDRESS_ALLOW` for executors' outgoing
//! HTTP: CIDRs or host names) names it.
//!
//! These are the pure rules; the roles check them where they connect
//! (the dispatcher's callback resolver, the executor's outgoing-HTTP sender),
//! so the addresses checked are the addresses connected to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a policy guards, as its refusals name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    /// What goes out, singular: `callback`.
    pub noun: &'static str,
    /// The same, plural: `callbacks`.
    pub plural: &'static str,
    /// The operator's setting that allows more: `FAAS_CALLBACK_ALLOW`.
    pub setting: &'static str,
}

/// Job callbacks, sent by dispatchers.
pub const CALLBACKS: Purpose =
    Purpose { noun: "callback", plural: "callbacks", setting: "FAAS_CALLBACK_ALLOW" };

/// Outgoing HTTP requests of HTTP functions, sent by executors.
pub const HTTP_OUTGOING: Purpose = Purpose {
    noun: "outgoing HTTP",
    plural: "outgoing HTTP requests",
    setting: "FAAS_HTTP_OUTGOING_ADDRESS_ALLOW",
};

/// A destination the policy refuses.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the {} host {host} is at {addr}, a {kind} address: {} may not go there unless {} lists it",
    purpose.noun, purpose.plural, purpose.setting
)]
pub struct Refused {
    /// What was refused.
    pub purpose: Purpose,
    /// The host of the URL.
    pub host: String,
    /// The address refused.
    pub addr: IpAddr,
    /// What kind of address it is (`loopback`, `private`, ...).
    pub kind: &'static str,
}

/// An entry of an allow-list that is neither a CIDR nor a host name.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {entry:?} is neither an address, a CIDR (10.0.0.0/8, fd00::/8) nor a host name")]
pub struct BadAllowEntry {
    /// The setting it was found in.
    pub setting: &'static str,
    /// The entry.
    pub entry: String,
}

/// An address range, `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self { addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Self { addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)), prefix }
    }

    /// `10.0.0.0/8`, `fd00::/8`, or a single address.
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Ranges nothing may reach unless allowed, and what each is.
const BLOCKED: &[(Cidr, &str)] = &[
    (Cidr::v4(0, 0, 0, 0, 8), "unspecified"),
    (Cidr::v4(10, 0, 0, 0, 8), "private"),
    (Cidr::v4(100, 64, 0, 0, 10), "shared (carrier-grade NAT)"),
    (Cidr::v4(127, 0, 0, 0, 8), "loopback"),
    (Cidr::v4(169, 254, 0, 0, 16), "link-local"),
    (Cidr::v4(172, 16, 0, 0, 12), "private"),
    (Cidr::v4(192, 0, 0, 0, 24), "reserved"),
    (Cidr::v4(192, 0, 2, 0, 24), "documentation"),
    (Cidr::v4(192, 168, 0, 0, 16), "private"),
    (Cidr::v4(198, 18, 0, 0, 15), "benchmarking"),
    (Cidr::v4(198, 51, 100, 0, 24), "documentation"),
    (Cidr::v4(203, 0, 113, 0, 24), "documentation"),
    (Cidr::v4(224, 0, 0, 0, 4), "multicast"),
    (Cidr::v4(240, 0, 0, 0, 4), "reserved"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard"),
    (Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "private (unique local)"),
    (Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// The IPv4 address an IPv6 address carries, where it is one that routes to
/// IPv4: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if bits >> 32 == 0 && bits > 1 {
        return Some(low);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

/// What connections made for users may reach.
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    purpose: Purpose,
    allowed_ranges: Vec<Cidr>,
    /// Lowercase, without a trailing dot.
    allowed_hosts: Vec<String>,
}

impl AddressPolicy {
    /// The policy for `purpose` with nothing allowed beyond public addresses.
    pub fn strict(purpose: Purpose) -> Self {
        Self { purpose, allowed_ranges: Vec::new(), allowed_hosts: Vec::new() }
    }

    /// The policy for `purpose` with the operator's entries (CIDRs,
    /// addresses or host names; empty entries are skipped).
    pub fn new(purpose: Purpose, allow: &[String]) -> Result<Self, BadAllowEntry> {
        let mut policy = Self::strict(purpose);
        for entry in allow.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if let Some(range) = Cidr::parse(entry) {
                policy.allowed_ranges.push(range);
            } else if is_host_name(&normal_host(entry)) {
                policy.allowed_hosts.push(normal_host(entry));
            } else {
                return Err(BadAllowEntry { setting: purpose.setting, entry: entry.to_owned() });
            }
        }
        Ok(policy)
    }

    /// Whether `host` is allowed by name, whatever it resolves to.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = normal_host(host);
        self.allowed_hosts.contains(&host)
    }

    /// Checks one address of `host`.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allowed_ranges.iter().any(|range| range.contains(ip)) {
            return Ok(());
        }
        let checked = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        if checked != ip && self.allowed_ranges.iter().any(|range| range.contains(checked)) {
            return Ok(());
        }
        match BLOCKED.iter().find(|(range, _)| range.contains(checked)) {
            Some((_, kind)) => Err(Refused { purpose: self.purpose, host: host.to_owned(), addr: ip, kind }),
            None => Ok(()),
        }
    }
}

/// `host` lower case, without a trailing dot.
pub fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `text` is a DNS host name (letters, digits, hyphens; labels of
/// 1 to 63 characters).
pub fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, ip: &str) -> Option<&'static str> {
        policy.check_ip("h", ip.parse().unwrap()).err().map(|r| r.kind)
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        let policy = AddressPolicy::strict(CALLBACKS);
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd12::1", "private (unique local)"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::10.0.0.1", "private"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:c0a8:0101::1", "private"),
        ] {
            assert_eq!(refused(&policy, ip), Some(kind), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(refused(&policy, ip), None, "{ip}");
        }
    }

    #[test]
    fn the_allow_list_opens_ranges_and_hosts() {
        let allow: Vec<String> =
            ["127.0.0.0/8", " ::1 ", "10.1.0.0/16", "Hooks.Internal.", ""].map(String::from).to_vec();
        let policy = AddressPolicy::new(CALLBACKS, &allow).unwrap();
        assert_eq!(refused(&policy, "127.0.0.1"), None);
        assert_eq!(refused(&policy, "::ffff:127.0.0.1"), None);
        assert_eq!(refused(&policy, "::1"), None);
        assert_eq!(refused(&policy, "10.1.200.3"), None);
        assert_eq!(refused(&policy, "10.2.0.1"), Some("private"));
        assert!(policy.host_allowed("hooks.internal") && policy.host_allowed("HOOKS.internal."));
        assert!(!policy.host_allowed("other.internal"));
        for bad in ["10.0.0.0/33", "not a host", "-x.example", "::1/129"] {
            assert!(AddressPolicy::new(CALLBACKS, &[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refusal_says_what_and_how_to_allow_it() {
        let err =
            AddressPolicy::strict(CALLBACKS).check_ip("localhost", "127.0.0.1".parse().unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("localhost") && text.contains("loopback") && text.contains("FAAS_CALLBACK_ALLOW")
        );
        let err =
            AddressPolicy::strict(HTTP_OUTGOING).check_ip("x", "10.0.0.1".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("FAAS_HTTP_OUTGOING_ADDRESS_ALLOW"), "{err}");
    }
}
