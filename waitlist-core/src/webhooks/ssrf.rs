//! SSRF guard: webhook URLs may not reach the sender's own network.
//!
//! By default a URL is refused when its host is, or resolves to, a loopback,
//! private, shared (CGNAT), link-local (cloud metadata `169.254.169.254`
//! included), unique-local, multicast, unspecified or broadcast address. The
//! check runs twice: before the request (for a clear error) and inside the
//! HTTP client's DNS resolver, so a name that re-resolves to a private
//! address between the two (DNS rebinding) is refused too. An allow-list
//! opens networks or host names explicitly.

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
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (incl. AWS metadata fd00:ec2::254)
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

/// Refuses webhook URLs that reach private networks, unless allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlGuard {
    allowed_nets: Vec<Cidr>,
    allowed_hosts: Vec<String>,
}

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
        let addrs = resolve(&host).await?;
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
}

async fn resolve(host: &str) -> Result<Vec<SocketAddr>, SsrfError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| SsrfError::Unresolved {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(SsrfError::Unresolved {
            host: host.to_owned(),
            reason: "no address".into(),
        });
    }
    Ok(addrs)
}

/// reqwest DNS resolver applying a [`UrlGuard`] to every resolved address.
#[derive(Debug)]
pub(crate) struct GuardedResolver {
    guard: UrlGuard,
}

type Resolving = Pin<
    Box<
        dyn Future<Output = Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>>>
            + Send,
    >,
>;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host).await?;
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
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!is_public(ip), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
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
