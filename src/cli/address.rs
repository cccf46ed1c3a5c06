//! Which address to put in the URL: the one other devices on the LAN can
//! reach, not a container bridge or VPN tunnel (127.0.0.1 when there is
//! none), and the machine's other addresses worth mentioning.

use std::net::IpAddr;

/// Interface name prefixes of virtual networks other devices cannot reach.
const VIRTUAL: &[&str] = &[
    "lo",
    "docker",
    "veth",
    "br-",
    "virbr",
    "vboxnet",
    "vmnet",
    "tun",
    "tap",
    "utun",
    "wg",
    "tailscale",
    "zt",
    "cni",
    "flannel",
    "cali",
    "podman",
    "lxc",
    "lxd",
    "awdl",
    "llw",
    "anpi",
    "ap",
    "bridge",
    "gif",
    "stf",
];

/// Whether an address on an interface is one to offer at all.
pub fn usable(ip: &IpAddr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    !link_local
}

/// Whether an interface looks like a virtual network.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL.iter().any(|p| name.starts_with(p))
}

/// The address for the URL and the others worth mentioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub primary: IpAddr,
    /// `(address, interface)` pairs, best first.
    pub others: Vec<(IpAddr, String)>,
}

/// Picks from `interfaces` (name, address). `default_route` is the address
/// of the interface that carries the default route, preferred when usable.
/// IPv4 comes before IPv6 (phones and QR scanners cope better), physical
/// interfaces before virtual ones.
pub fn choose(
    interfaces: &[(String, IpAddr)],
    default_route: Option<IpAddr>,
    v6_ok: bool,
) -> Addresses {
    let mut candidates: Vec<(IpAddr, String)> = interfaces
        .iter()
        .filter(|(_, ip)| usable(ip) && (v6_ok || ip.is_ipv4()))
        .map(|(name, ip)| (*ip, name.clone()))
        .collect();
    candidates
        .sort_by_key(|(ip, name)| (is_virtual(name), Some(*ip) != default_route, ip.is_ipv6()));
    candidates.dedup_by(|a, b| a.0 == b.0);
    let primary = match candidates.first() {
        Some((ip, name)) if !is_virtual(name) => *ip,
        _ => IpAddr::from([127, 0, 0, 1]),
    };
    let others = candidates
        .into_iter()
        .filter(|(ip, _)| *ip != primary)
        .collect();
    Addresses { primary, others }
}

/// Reads the machine's interfaces and chooses.
pub fn detect(v6_ok: bool) -> Addresses {
    let interfaces = local_ip_address::list_afinet_netifas().unwrap_or_default();
    let default_route = local_ip_address::local_ip().ok();
    choose(&interfaces, default_route, v6_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs(list: &[(&str, &str)]) -> Vec<(String, IpAddr)> {
        list.iter()
            .map(|(n, ip)| (n.to_string(), ip.parse().unwrap()))
            .collect()
    }

    #[test]
    fn prefers_default_route_and_skips_virtual_and_loopback() {
        let list = ifs(&[
            ("lo", "127.0.0.1"),
            ("docker0", "172.17.0.1"),
            ("wg0", "10.8.0.5"),
            ("wlan0", "192.168.1.20"),
            ("eth0", "10.0.0.7"),
            ("eth0", "fe80::1"),
        ]);
        let a = choose(&list, Some("10.0.0.7".parse().unwrap()), true);
        assert_eq!(a.primary, "10.0.0.7".parse::<IpAddr>().unwrap());
        let others: Vec<String> = a.others.iter().map(|(ip, _)| ip.to_string()).collect();
        assert_eq!(others, ["192.168.1.20", "172.17.0.1", "10.8.0.5"]);
    }

    #[test]
    fn a_virtual_default_route_loses_to_a_physical_interface() {
        let list = ifs(&[("wg0", "10.8.0.5"), ("wlan0", "192.168.1.20")]);
        let a = choose(&list, Some("10.8.0.5".parse().unwrap()), true);
        assert_eq!(a.primary, "192.168.1.20".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn nothing_usable_means_loopback() {
        let a = choose(
            &ifs(&[("lo", "127.0.0.1"), ("docker0", "172.17.0.1")]),
            None,
            true,
        );
        assert_eq!(a.primary, IpAddr::from([127, 0, 0, 1]));
        assert!(!is_virtual("enp3s0"));
        assert!(is_virtual("veth12ab"));
        assert!(!usable(&"169.254.3.4".parse().unwrap()));
    }
}
