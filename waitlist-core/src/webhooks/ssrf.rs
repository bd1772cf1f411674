//! SSRF guard: webhook URLs may not reach the sender's own network.
//!
//! By default a URL is refused when its host is, or resolves to, a loopback,
//! private, shared (CGNAT), link-local (cloud metadata `169.254.169.254`
//! included), unique-local, multicast, unspecified, broadcast,
//! documentation, benchmarking or reserved address, or an IPv6 address
//! carrying such an IPv4 address (IPv4-mapped, NAT64, 6to4; see
//! [`is_public`]). The check runs twice: before the request (for a clear
//! error) and inside the HTTP client's DNS resolver, so a name that
//! re-resolves to a private address between the two (DNS rebinding) is
//! refused too. The client follows no redirects. An allow-list opens
//! networks or host names explicitly; [`UrlGuard::with_resolver`] replaces
//! the system resolver.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SsrfError {
    /// The URL does not parse or is not http(s).
    #[error("invalid webhook URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The host is or resolves to a forbidden address.
    #[error("webhook URL host {host} resolves to the forbidden address {addr}")]
    Forbidden {
        /// The host of the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// The host name did not resolve (worth retrying).
    #[error("cannot resolve {host}: {reason}")]
    Unresolved {
        /// The host of the URL.
        host: String,
        /// Resolver message.
        reason: String,
    },
    /// An allow-list entry is not an address or `address/prefix`.
    #[error("invalid allow-list entry {0:?}")]
    InvalidAllowEntry(String),
}

/// A network `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether `ip` is reachable on the public internet (none of the ranges
/// the guard refuses by default).
///
/// IPv6 addresses that carry an IPv4 address are judged by that address:
/// IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::/48`, so that
/// `64:ff9b::a9fe:a9fe` (the metadata address `169.254.169.254` through a
/// NAT64 gateway) is refused like `169.254.169.254` itself. Forms that
/// have no legitimate use for a webhook endpoint are refused whatever they
/// carry: IPv4-compatible `::a.b.c.d` (deprecated), local-use NAT64
/// `64:ff9b:1::/48` and Teredo `2001::/32` (tunnels whose far end the
/// address does not pin down).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Embedded::V4(v4) => is_public_v4(v4),
            Embedded::Refused => false,
            Embedded::None => is_public_v6(v6),
        },
    }
}

/// What an IPv6 address says about an IPv4 address inside it.
enum Embedded {
    /// It carries this IPv4 address (mapped, translated, NAT64, 6to4).
    V4(Ipv4Addr),
    /// A transition form refused outright.
    Refused,
    /// A plain IPv6 address.
    None,
}

fn embedded_v4(ip: Ipv6Addr) -> Embedded {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let s = ip.segments();
    if bits >> 32 == 0xffff {
        // ::ffff:a.b.c.d, IPv4-mapped.
        Embedded::V4(low32)
    } else if bits >> 32 == 0xffff_0000 {
        // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765).
        Embedded::V4(low32)
    } else if bits >> 32 == 0 {
        // ::/96: the unspecified and loopback addresses and the deprecated
        // IPv4-compatible form ::a.b.c.d; none is a webhook endpoint.
        Embedded::Refused
    } else if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052).
        Embedded::V4(low32)
    } else if s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001 {
        // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): the v4 address may sit
        // anywhere under the operator's own prefix.
        Embedded::Refused
    } else if s[0] == 0x2002 {
        // 2002::/16, 6to4 (RFC 3056): the v4 address in bits 16..48.
        Embedded::V4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32))
    } else if s[0] == 0x2001 && s[1] == 0 {
        // 2001::/32, Teredo (RFC 4380).
        Embedded::Refused
    } else {
        Embedded::None
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast() // ff00::/8
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (incl. AWS metadata fd00:ec2::254)
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (first == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only 100::/64
        || (first == 0x2001 && s[1] == 0x0002 && s[2] == 0) // benchmarking 2001:2::/48
        || (first == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID 2001:10::/28 (deprecated)
        || (first == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (first & 0xfff0) == 0x3ff0 // documentation 3fff::/20
        || first == 0x5f00) // SRv6 segment identifiers 5f00::/16
}

/// A future resolving a host name to its addresses.
pub type ResolveFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves host names for a [`UrlGuard`] and the webhook client's
/// connections (the system resolver unless
/// [`UrlGuard::with_resolver`] sets one): a custom DNS client, or fixed
/// answers in tests. Every address it returns goes through the guard.
pub trait HostResolver: Send + Sync + 'static {
    /// The addresses of `host` (a name, never an IP literal).
    fn resolve(&self, host: &str) -> ResolveFuture;
}

impl<F> HostResolver for F
where
    F: Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync + 'static,
{
    fn resolve(&self, host: &str) -> ResolveFuture {
        let answer = self(host);
        Box::pin(async move { answer })
    }
}

/// Refuses webhook URLs that reach private networks, unless allowed.
#[derive(Clone, Default)]
pub struct UrlGuard {
    allowed_nets: Vec<Cidr>,
    allowed_hosts: Vec<String>,
    resolver: Option<Arc<dyn HostResolver>>,
}

impl std::fmt::Debug for UrlGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlGuard")
            .field("allowed_nets", &self.allowed_nets)
            .field("allowed_hosts", &self.allowed_hosts)
            .field(
                "resolver",
                &if self.resolver.is_some() {
                    "custom"
                } else {
                    "system"
                },
            )
            .finish()
    }
}

/// Guards are equal when they allow the same and resolve with the same
/// resolver (the same `Arc`, or both the system's).
impl PartialEq for UrlGuard {
    fn eq(&self, other: &Self) -> bool {
        self.allowed_nets == other.allowed_nets
            && self.allowed_hosts == other.allowed_hosts
            && match (&self.resolver, &other.resolver) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for UrlGuard {}

impl UrlGuard {
    /// The default guard: only public addresses.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows an address or network, e.g. `127.0.0.1` or `10.0.0.0/8`.
    ///
    /// # Errors
    /// [`SsrfError::InvalidAllowEntry`] when `net` does not parse.
    pub fn allow_net(mut self, net: &str) -> Result<Self, SsrfError> {
        let cidr = Cidr::parse(net).ok_or_else(|| SsrfError::InvalidAllowEntry(net.to_owned()))?;
        self.allowed_nets.push(cidr);
        Ok(self)
    }

    /// Allows one address.
    pub fn allow_ip(mut self, ip: IpAddr) -> Self {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        self.allowed_nets.push(Cidr { addr: ip, prefix });
        self
    }

    /// Allows a host name whatever it resolves to (e.g. an internal service).
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// Resolves host names with `resolver` instead of the system resolver,
    /// both in [`check_url`](Self::check_url) and for the webhook client's
    /// connections.
    pub fn with_resolver(mut self, resolver: impl HostResolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Whether the guard lets `ip` through.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed_nets.iter().any(|n| n.contains(ip))
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    /// Checks `url`: http(s), and every address of its host allowed.
    ///
    /// # Errors
    /// [`SsrfError::InvalidUrl`], [`SsrfError::Forbidden`] or
    /// [`SsrfError::Unresolved`].
    pub async fn check_url(&self, url: &str) -> Result<(), SsrfError> {
        let invalid = |reason: &str| SsrfError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("only http and https are allowed"));
        }
        let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.check_ip(bare, ip);
        }
        let host = host.to_owned();
        if self.allows_host(&host) {
            return Ok(());
        }
        let addrs = self.resolve(&host).await?;
        addrs.iter().try_for_each(|a| self.check_ip(&host, a.ip()))
    }

    fn check_ip(&self, host: &str, addr: IpAddr) -> Result<(), SsrfError> {
        if self.allows_ip(addr) {
            Ok(())
        } else {
            Err(SsrfError::Forbidden {
                host: host.to_owned(),
                addr,
            })
        }
    }

    /// A DNS resolver for reqwest that drops forbidden addresses.
    pub(crate) fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            guard: self.clone(),
        })
    }

    /// The addresses of `host`, from the custom resolver or the system's.
    async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, SsrfError> {
        let unresolved = |reason: String| SsrfError::Unresolved {
            host: host.to_owned(),
            reason,
        };
        let addrs: Vec<SocketAddr> = match &self.resolver {
            Some(resolver) => resolver
                .resolve(host)
                .await
                .map_err(|e| unresolved(e.to_string()))?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect(),
            None => tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| unresolved(e.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(unresolved("no address".into()));
        }
        Ok(addrs)
    }
}

/// reqwest DNS resolver applying a [`UrlGuard`] to every resolved address.
#[derive(Debug)]
pub(crate) struct GuardedResolver {
    guard: UrlGuard,
}

type ReqwestResolving = Pin<
    Box<
        dyn Future<Output = Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>>>
            + Send,
    >,
>;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> ReqwestResolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.resolve(&host).await?;
            if guard.allows_host(&host) {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            for a in &addrs {
                guard.check_ip(&host, a.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // v4 ranges std does not name
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "192.88.99.1",
            "240.0.0.1",
            "255.255.255.255",
            "0.1.2.3",
            "100.127.255.255",
            // IPv6 forms carrying a forbidden IPv4 address
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::808:808",
            "::ffff:0:127.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            // v6 ranges
            "fc00::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!is_public(ip), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "198.20.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_urls_are_refused_unless_allowed() {
        let guard = UrlGuard::new();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let err = guard.check_url(url).await.expect_err(url);
            assert!(matches!(err, SsrfError::Forbidden { .. }), "{url}: {err}");
        }
        assert!(matches!(
            guard.check_url("file:///etc/passwd").await,
            Err(SsrfError::InvalidUrl { .. })
        ));
        let open = UrlGuard::new().allow_net("127.0.0.0/8").expect("valid");
        assert_eq!(open.check_url("http://127.0.0.1:8080/hook").await, Ok(()));
        assert!(open.check_url("http://10.0.0.1/").await.is_err());
        assert!(UrlGuard::new().allow_net("10.0.0.0/33").is_err());
    }
}
