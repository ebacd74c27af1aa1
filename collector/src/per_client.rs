//! Connections open per client address, for the per-client caps of the HTTP listener
//! (`[limits] max_connections_per_client`) and the syslog TCP listener (`[syslog]
//! max_connections_per_client`): idle connections from one host cannot take every slot and lock
//! the other hosts out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections open per client address.
#[derive(Clone, Default)]
pub struct PerClient(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted for its client until dropped.
pub struct Counted(PerClient, IpAddr);

impl PerClient {
    /// Counts a connection from `ip`, unless it already has `max` open.
    pub fn admit(&self, ip: IpAddr, max: usize) -> Option<Counted> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Counted(self.clone(), ip))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_share_and_its_slots_back() {
        let p = PerClient::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let held: Vec<_> = (0..3).map(|_| p.admit(a, 3).unwrap()).collect();
        assert!(p.admit(a, 3).is_none(), "over its share");
        assert!(p.admit(b, 3).is_some(), "another client is not affected");
        drop(held);
        assert!(p.admit(a, 3).is_some());
        assert!(
            p.0.lock().unwrap().get(&b).is_none(),
            "an address with none open is forgotten"
        );
    }
}
