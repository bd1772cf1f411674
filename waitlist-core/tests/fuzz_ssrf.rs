//! Fuzz target for the SSRF guard: an IPv6 address carrying an IPv4 address
//! is judged by that address, whatever the IPv4 address and the form; any
//! URL text is checked without a panic, and a refused URL names an address
//! that is not public.
//!
//! `PROPTEST_CASES` sets the cases per property (1,000 by default);
//! `scripts/fuzz.sh` runs it with millions.
#![cfg(feature = "webhooks")]

#[path = "fuzz_support/mod.rs"]
mod fuzz_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fuzz_support::{config, Rng};
use proptest::prelude::*;
use proptest::sample::select;
use waitlist_core::webhooks::{is_public, SsrfError, UrlGuard};

/// IPv4 addresses, biased towards the edges of the ranges the guard knows.
fn arb_v4() -> impl Strategy<Value = Ipv4Addr> {
    let edges: Vec<u32> = [
        "0.0.0.0",
        "0.255.255.255",
        "1.0.0.0",
        "9.255.255.255",
        "10.0.0.0",
        "10.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.64.0.0",
        "100.127.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "127.0.0.0",
        "127.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.254.0.0",
        "169.254.169.254",
        "169.254.255.255",
        "169.255.0.0",
        "172.15.255.255",
        "172.16.0.0",
        "172.31.255.255",
        "172.32.0.0",
        "192.0.0.0",
        "192.0.0.255",
        "192.0.1.0",
        "192.0.2.0",
        "192.88.99.0",
        "192.167.255.255",
        "192.168.0.0",
        "192.168.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.18.0.0",
        "198.19.255.255",
        "198.20.0.0",
        "198.51.100.1",
        "203.0.113.1",
        "223.255.255.255",
        "224.0.0.0",
        "239.255.255.255",
        "240.0.0.0",
        "255.255.255.255",
        "8.8.8.8",
        "93.184.216.34",
    ]
    .iter()
    .map(|a| u32::from(a.parse::<Ipv4Addr>().expect("v4")))
    .collect();
    prop_oneof![
        any::<u32>(),
        (select(edges), -2i64..3).prop_map(|(e, d)| u32::try_from(i64::from(e) + d).unwrap_or(e)),
    ]
    .prop_map(Ipv4Addr::from)
}

/// The IPv6 forms that carry `v4`, with whether they count as `v4` itself
/// (`true`) or are refused whatever it is (`false`).
fn carriers(v4: Ipv4Addr, noise: u64) -> Vec<(Ipv6Addr, bool)> {
    let x = u128::from(u32::from(v4));
    vec![
        (Ipv6Addr::from(0xffff_u128 << 32 | x), true), // ::ffff:a.b.c.d
        (Ipv6Addr::from(0xffff_0000_u128 << 32 | x), true), // ::ffff:0:a.b.c.d
        (Ipv6Addr::from(0x0064_ff9b_u128 << 96 | x), true), // 64:ff9b::a.b.c.d
        (
            Ipv6Addr::from(
                0x2002_u128 << 112 | x << 80 | u128::from(noise) & 0xffff_ffff_ffff_ffff_ffff,
            ),
            true,
        ), // 6to4
        (Ipv6Addr::from(x), false),                    // ::a.b.c.d
        (
            Ipv6Addr::from(
                0x0064_ff9b_0001_u128 << 80
                    | x
                    | u128::from(noise) << 32 & 0xffff_ffff_ffff_0000_0000,
            ),
            false,
        ), // 64:ff9b:1::/48
        (
            Ipv6Addr::from(0x2001_0000_u128 << 96 | u128::from(noise) << 32 | (x ^ 0xffff_ffff)),
            false,
        ), // Teredo
    ]
}

fn arb_url() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        arb_v4().prop_map(|a| a.to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("0x{n:x}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        (arb_v4(), any::<u64>())
            .prop_map(|(a, n)| format!("[{}]", carriers(a, n)[(n % 7) as usize].0)),
        "[a-z0-9.\\-\\[\\]:%@]{0,30}",
        Just("hook.test".to_owned()),
    ];
    (
        select(vec![
            "http://",
            "https://",
            "ftp://",
            "HTTP://",
            "",
            "http:/",
            "http:\\\\",
        ]),
        prop::option::of("[a-z:@]{0,10}@"),
        host,
        prop::option::of(any::<u16>()),
        "[/a-z?#%.]{0,12}",
    )
        .prop_map(|(scheme, user, host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}{}{host}{port}{path}", user.unwrap_or_default())
        })
}

/// The guard, with every name resolving to one forbidden and one public
/// address (no DNS traffic from the fuzzer).
fn guard() -> UrlGuard {
    UrlGuard::new().with_resolver(|_host: &str| {
        Ok(vec![
            IpAddr::from([93, 184, 216, 34]),
            IpAddr::from([169, 254, 169, 254]),
        ])
    })
}

/// The properties: `scripts/fuzz.sh` runs `fuzz::` with millions of cases.
mod fuzz {
    use super::*;

    proptest! {
        #![proptest_config(config(2000))]

        /// Every IPv6 form carrying an IPv4 address is as public as that
        /// address, or refused outright for the forms no endpoint uses.
        #[test]
        fn embedded_ipv4_decides(v4 in arb_v4(), noise in any::<u64>()) {
            let public = is_public(IpAddr::V4(v4));
            for (v6, counts_as_v4) in carriers(v4, noise) {
                let expected = counts_as_v4 && public;
                prop_assert_eq!(is_public(IpAddr::V6(v6)), expected, "{} carrying {}", v6, v4);
            }
        }

        /// 100 random IPv4 addresses per case, every carrier form of each.
        #[test]
        fn embedded_ipv4_bursts(seed in any::<u64>()) {
            let mut rng = Rng::new(seed);
            let mut next = move || rng.next();
            for _ in 0..100 {
                let r = next();
                let v4 = Ipv4Addr::from((r >> 32) as u32);
                let public = is_public(IpAddr::V4(v4));
                for (v6, counts_as_v4) in carriers(v4, next()) {
                    prop_assert_eq!(is_public(IpAddr::V6(v6)), counts_as_v4 && public, "{} carrying {}", v6, v4);
                }
            }
        }

        /// Any URL: allowed, refused or invalid, never a panic; a refusal
        /// names an address that is not public.
        #[test]
        fn arbitrary_urls_are_checked(url in arb_url()) {
            // The resolver answers at once: no runtime needed.
            match futures::executor::block_on(guard().check_url(&url)) {
                Ok(()) => {
                    let parsed = reqwest::Url::parse(&url).expect("allowed URLs parse");
                    prop_assert!(matches!(parsed.scheme(), "http" | "https"));
                    let host = parsed.host_str().expect("a host");
                    let bare = host.trim_start_matches('[').trim_end_matches(']');
                    let ip: IpAddr = bare.parse().map_err(|_| TestCaseError::fail(format!("{url}: a name passed although it resolves to the metadata address")))?;
                    prop_assert!(is_public(ip), "{url}");
                }
                Err(SsrfError::Forbidden { addr, .. }) => prop_assert!(!is_public(addr), "{url}"),
                Err(SsrfError::InvalidUrl { .. }) => {}
                Err(other) => prop_assert!(false, "{url}: {other:?}"),
            }
        }
    }
}
