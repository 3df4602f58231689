//! The pool of client addresses (`remoteip` in pptpd.conf) and static addresses from
//! chap-secrets.
//!
//! poptop keeps one slot per `remoteip` address and hands a new client the first free slot;
//! pppd then checks that address against the client's chap-secrets entry and, "If the address
//! given for the peer isn't authorized ... AND there is an authorized address which is a single
//! host, then use that" (auth.c, `set_allowed_addrs`). pptpd-rs keeps that decision
//! ([`IpPool::allocate_for`]) with three differences, each to stop two clients from sharing an
//! address:
//! - a client given its static address does not also hold a pool address (poptop burns the slot);
//! - a static address is never handed out twice ([`PoolError::AddressInUse`]); pppd would;
//! - addresses that chap-secrets pins to a client ([`IpPool::set_reserved`]) are kept out of
//!   dynamic allocation, so a pinned client never finds its address taken by someone else.
//!   poptop knows nothing of chap-secrets and hands such an address to whoever comes first.
//!
//! Dynamic allocation takes the least recently released address (a FIFO of free addresses,
//! first in `remoteip` order), so a new client does not inherit at once the conntrack/NAT state
//! of the one that just left. Allocation and release are O(1): the FIFO is an intrusive doubly
//! linked list over the pool's slots.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use crate::config::{AddressPolicy, LocalIp, PptpdConf, is_unicast_host};

/// Why an address could not be allocated or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every pool address is in use or reserved.
    #[error("the address pool is exhausted")]
    Exhausted,
    /// The static address is already in use by another session.
    #[error("{0} is already in use")]
    AddressInUse(Ipv4Addr),
    /// The static address cannot be given to a client (not unicast, or one of our local
    /// addresses).
    #[error("{0} cannot be given to a client")]
    Unusable(Ipv4Addr),
    /// The client's chap-secrets entry permits no address the pool can give.
    #[error("no address the client is permitted to use is available")]
    NotPermitted,
    /// `release` of an address that is not allocated.
    #[error("{0} is not allocated")]
    NotAllocated(Ipv4Addr),
}

/// "No slot" in the free list.
const NIL: u32 = u32::MAX;

/// One pool address's state and its links in the free FIFO.
#[derive(Debug, Clone, Copy)]
struct Slot {
    prev: u32,
    next: u32,
    allocated: bool,
    reserved: bool,
}

impl Slot {
    /// Whether the slot is in the free FIFO.
    fn queued(self) -> bool {
        !self.allocated && !self.reserved
    }
}

/// The client address pool.
#[derive(Debug, Clone)]
pub struct IpPool {
    addresses: Vec<Ipv4Addr>,
    index: HashMap<Ipv4Addr, u32>,
    slots: Vec<Slot>,
    head: u32,
    tail: u32,
    queued: usize,
    /// Static addresses outside the pool that are in use.
    outside: HashSet<Ipv4Addr>,
    reserved: HashSet<Ipv4Addr>,
    in_use: usize,
    local: LocalIp,
}

impl IpPool {
    /// A pool over `remote` (in order; repeats are dropped) with `local` as our end of each link.
    pub fn new(remote: impl IntoIterator<Item = Ipv4Addr>, local: LocalIp) -> Self {
        let mut pool = Self {
            addresses: Vec::new(),
            index: HashMap::new(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            queued: 0,
            outside: HashSet::new(),
            reserved: HashSet::new(),
            in_use: 0,
            local,
        };
        for address in remote {
            let Ok(slot) = u32::try_from(pool.addresses.len()) else {
                break;
            };
            if slot == NIL || pool.index.contains_key(&address) {
                continue;
            }
            pool.addresses.push(address);
            pool.index.insert(address, slot);
            pool.slots.push(Slot {
                prev: NIL,
                next: NIL,
                allocated: false,
                reserved: false,
            });
            pool.push_back(slot);
        }
        pool
    }

    /// The pool of a pptpd.conf: `remoteip` with `localip`.
    pub fn from_config(conf: &PptpdConf) -> Self {
        Self::new(conf.remoteip.iter().copied(), conf.localip.clone())
    }

    /// Allocates an address: `static_addr` when given (honoured even outside the pool, refused
    /// when in use), else the least recently released free pool address.
    pub fn allocate(&mut self, static_addr: Option<Ipv4Addr>) -> Result<Ipv4Addr, PoolError> {
        match static_addr {
            Some(address) => self.allocate_static(address),
            None => {
                let slot = self.head;
                if slot == NIL {
                    return Err(PoolError::Exhausted);
                }
                Ok(self.take(slot))
            }
        }
    }

    /// Allocates an address for a client whose chap-secrets entry says `policy`, the way
    /// poptop + pppd decide:
    /// 1. the next pool address, if the policy permits it (the common `*`);
    /// 2. else the policy's static address ([`AddressPolicy::static_address`]);
    /// 3. else the first free pool address the policy permits (pppd would fail here; pptpd-rs
    ///    searches the FIFO, O(pool) for such rare subnet-restricted entries);
    /// 4. else [`PoolError::NotPermitted`], or [`PoolError::Exhausted`] when nothing is free.
    pub fn allocate_for(&mut self, policy: &AddressPolicy) -> Result<Ipv4Addr, PoolError> {
        if !policy.allows_some() {
            return Err(PoolError::NotPermitted);
        }
        if let Some(&address) = self.addresses.get(self.head as usize)
            && policy.permits(address)
        {
            return Ok(self.take(self.head));
        }
        if let Some(address) = policy.static_address() {
            return self.allocate_static(address);
        }
        let mut slot = self.head;
        while let Some(&address) = self.addresses.get(slot as usize) {
            if policy.permits(address) {
                return Ok(self.take(slot));
            }
            slot = self.slots.get(slot as usize).map_or(NIL, |s| s.next);
        }
        if self.queued == 0 {
            Err(PoolError::Exhausted)
        } else {
            Err(PoolError::NotPermitted)
        }
    }

    /// Gives `address` back. A pool address goes to the back of the free FIFO (unless it is
    /// reserved); a static address outside the pool is simply forgotten.
    pub fn release(&mut self, address: Ipv4Addr) -> Result<(), PoolError> {
        match self.index.get(&address).copied() {
            Some(slot) => {
                let state = self.slots.get_mut(slot as usize);
                match state {
                    Some(state) if state.allocated => {
                        state.allocated = false;
                        if !state.reserved {
                            self.push_back(slot);
                        }
                    }
                    _ => return Err(PoolError::NotAllocated(address)),
                }
            }
            None => {
                if !self.outside.remove(&address) {
                    return Err(PoolError::NotAllocated(address));
                }
            }
        }
        self.in_use -= 1;
        Ok(())
    }

    /// Keeps `addresses` (the static addresses of chap-secrets, see
    /// [`crate::config::ChapSecrets::static_addresses`]) out of dynamic allocation; replaces the
    /// previous set. Call it after each (re)load of chap-secrets; O(old + new).
    pub fn set_reserved(&mut self, addresses: impl IntoIterator<Item = Ipv4Addr>) {
        let new: HashSet<Ipv4Addr> = addresses.into_iter().collect();
        let old = std::mem::take(&mut self.reserved);
        // Sorted, so that the FIFO order does not depend on hashing.
        let mut unreserved: Vec<Ipv4Addr> = old.difference(&new).copied().collect();
        unreserved.sort_unstable();
        for address in &unreserved {
            if let Some(&slot) = self.index.get(address)
                && let Some(state) = self.slots.get_mut(slot as usize)
            {
                state.reserved = false;
                if !state.allocated {
                    self.push_back(slot);
                }
            }
        }
        for address in new.difference(&old) {
            if let Some(&slot) = self.index.get(address) {
                if self.slots.get(slot as usize).is_some_and(|s| s.queued()) {
                    self.unlink(slot);
                }
                if let Some(state) = self.slots.get_mut(slot as usize) {
                    state.reserved = true;
                }
            }
        }
        self.reserved = new;
    }

    /// How many addresses are allocated (pool and static).
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// How many addresses the pool has (static addresses outside it not counted).
    pub fn capacity(&self) -> usize {
        self.addresses.len()
    }

    /// How many pool addresses dynamic allocation can still hand out.
    pub fn available(&self) -> usize {
        self.queued
    }

    /// Whether `address` is one of the pool's addresses.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        self.index.contains_key(&address)
    }

    /// Whether `address` is allocated.
    pub fn is_allocated(&self, address: Ipv4Addr) -> bool {
        match self.index.get(&address) {
            Some(&slot) => self.slots.get(slot as usize).is_some_and(|s| s.allocated),
            None => self.outside.contains(&address),
        }
    }

    /// Our end of the link of the client given `remote`: with one `localip`, that address; with
    /// a list, the one paired with `remote` (the first one for addresses outside the pool).
    pub fn local_for(&self, remote: Ipv4Addr) -> Ipv4Addr {
        let index = self
            .index
            .get(&remote)
            .map_or(usize::MAX, |&slot| slot as usize);
        self.local.for_index(index)
    }

    fn allocate_static(&mut self, address: Ipv4Addr) -> Result<Ipv4Addr, PoolError> {
        if !is_unicast_host(address) || self.local.addresses().contains(&address) {
            return Err(PoolError::Unusable(address));
        }
        match self.index.get(&address).copied() {
            Some(slot) => {
                let state = self.slots.get(slot as usize).copied();
                match state {
                    Some(state) if state.allocated => Err(PoolError::AddressInUse(address)),
                    Some(state) => {
                        if state.queued() {
                            self.unlink(slot);
                        }
                        self.mark_allocated(slot);
                        Ok(address)
                    }
                    None => Err(PoolError::Unusable(address)),
                }
            }
            None => {
                if !self.outside.insert(address) {
                    return Err(PoolError::AddressInUse(address));
                }
                self.in_use += 1;
                Ok(address)
            }
        }
    }

    /// Takes a queued slot out of the FIFO and marks it allocated.
    fn take(&mut self, slot: u32) -> Ipv4Addr {
        self.unlink(slot);
        self.mark_allocated(slot);
        self.addresses
            .get(slot as usize)
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn mark_allocated(&mut self, slot: u32) {
        if let Some(state) = self.slots.get_mut(slot as usize) {
            state.allocated = true;
            self.in_use += 1;
        }
    }

    fn push_back(&mut self, slot: u32) {
        let tail = self.tail;
        if let Some(state) = self.slots.get_mut(slot as usize) {
            state.prev = tail;
            state.next = NIL;
        }
        match self.slots.get_mut(tail as usize) {
            Some(previous) => previous.next = slot,
            None => self.head = slot,
        }
        self.tail = slot;
        self.queued += 1;
    }

    fn unlink(&mut self, slot: u32) {
        let Some(&Slot { prev, next, .. }) = self.slots.get(slot as usize) else {
            return;
        };
        match self.slots.get_mut(prev as usize) {
            Some(previous) => previous.next = next,
            None => self.head = next,
        }
        match self.slots.get_mut(next as usize) {
            Some(following) => following.prev = prev,
            None => self.tail = prev,
        }
        if let Some(state) = self.slots.get_mut(slot as usize) {
            state.prev = NIL;
            state.next = NIL;
        }
        self.queued -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AddressRule, ChapSecrets};
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, last)
    }

    fn pool(range: std::ops::RangeInclusive<u8>) -> IpPool {
        IpPool::new(range.map(ip), LocalIp::Shared(ip(1)))
    }

    #[test]
    fn allocates_in_order_then_exhausts() {
        let mut pool = pool(2..=4);
        assert_eq!(pool.capacity(), 3);
        assert_eq!(pool.allocate(None), Ok(ip(2)));
        assert_eq!(pool.allocate(None), Ok(ip(3)));
        assert_eq!(pool.allocate(None), Ok(ip(4)));
        assert_eq!(pool.allocate(None), Err(PoolError::Exhausted));
        assert_eq!(pool.in_use(), 3);
        assert_eq!(pool.available(), 0);
    }

    #[test]
    fn released_addresses_are_reused_last() {
        let mut pool = pool(2..=5);
        let a = pool.allocate(None).unwrap();
        let b = pool.allocate(None).unwrap();
        pool.release(b).unwrap();
        pool.release(a).unwrap();
        // Never-used addresses first, then b (released first), then a.
        let order: Vec<_> = (0..4).map(|_| pool.allocate(None).unwrap()).collect();
        assert_eq!(order, [ip(4), ip(5), b, a]);
    }

    #[test]
    fn static_address_outside_the_pool_is_honoured_once() {
        let mut pool = pool(2..=3);
        let pinned = Ipv4Addr::new(172, 16, 0, 9);
        assert_eq!(pool.allocate(Some(pinned)), Ok(pinned));
        assert_eq!(
            pool.allocate(Some(pinned)),
            Err(PoolError::AddressInUse(pinned))
        );
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.available(), 2);
        assert!(pool.is_allocated(pinned));
        pool.release(pinned).unwrap();
        assert!(!pool.is_allocated(pinned));
        assert_eq!(pool.release(pinned), Err(PoolError::NotAllocated(pinned)));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn static_address_inside_the_pool_leaves_the_fifo() {
        let mut pool = pool(2..=4);
        assert_eq!(pool.allocate(Some(ip(3))), Ok(ip(3)));
        assert_eq!(pool.allocate(None), Ok(ip(2)));
        assert_eq!(pool.allocate(None), Ok(ip(4)));
        assert_eq!(pool.allocate(None), Err(PoolError::Exhausted));
        // A dynamically allocated address cannot be claimed as static.
        assert_eq!(
            pool.allocate(Some(ip(2))),
            Err(PoolError::AddressInUse(ip(2)))
        );
        pool.release(ip(3)).unwrap();
        assert_eq!(pool.allocate(None), Ok(ip(3)));
    }

    #[test]
    fn unusable_static_addresses() {
        let mut pool = pool(2..=4);
        for bad in [
            ip(1),
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(239, 1, 1, 1),
        ] {
            assert_eq!(pool.allocate(Some(bad)), Err(PoolError::Unusable(bad)));
        }
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn double_release_is_refused() {
        let mut pool = pool(2..=3);
        let a = pool.allocate(None).unwrap();
        pool.release(a).unwrap();
        assert_eq!(pool.release(a), Err(PoolError::NotAllocated(a)));
        assert_eq!(pool.release(ip(9)), Err(PoolError::NotAllocated(ip(9))));
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn reserved_addresses_are_only_given_as_static() {
        let mut pool = pool(2..=4);
        pool.set_reserved([ip(2), Ipv4Addr::new(172, 16, 0, 1)]);
        assert_eq!(pool.available(), 2);
        assert_eq!(pool.allocate(None), Ok(ip(3)));
        assert_eq!(pool.allocate(None), Ok(ip(4)));
        assert_eq!(pool.allocate(None), Err(PoolError::Exhausted));
        assert_eq!(pool.allocate(Some(ip(2))), Ok(ip(2)));
        pool.release(ip(2)).unwrap();
        // Still reserved after release.
        assert_eq!(pool.allocate(None), Err(PoolError::Exhausted));
        // Unreserving puts it back.
        pool.set_reserved([]);
        assert_eq!(pool.allocate(None), Ok(ip(2)));
    }

    #[test]
    fn reserving_an_allocated_address_keeps_it_out_after_release() {
        let mut pool = pool(2..=3);
        assert_eq!(pool.allocate(None), Ok(ip(2)));
        pool.set_reserved([ip(2)]);
        pool.release(ip(2)).unwrap();
        assert_eq!(pool.allocate(None), Ok(ip(3)));
        assert_eq!(pool.allocate(None), Err(PoolError::Exhausted));
    }

    #[test]
    fn paired_local_addresses() {
        let pool = IpPool::new([ip(10), ip(11)], LocalIp::Paired(vec![ip(20), ip(21)]));
        assert_eq!(pool.local_for(ip(10)), ip(20));
        assert_eq!(pool.local_for(ip(11)), ip(21));
        assert_eq!(pool.local_for(Ipv4Addr::new(172, 16, 0, 1)), ip(20));
        let shared = IpPool::new([ip(10)], LocalIp::Shared(ip(1)));
        assert_eq!(shared.local_for(ip(10)), ip(1));
    }

    fn policy(line: &str) -> AddressPolicy {
        ChapSecrets::parse(&format!("c s pw {line}\n"), "chap-secrets")
            .unwrap()
            .lookup(b"c", "s")
            .unwrap()
            .addresses
    }

    #[test]
    fn allocate_for_follows_pppd() {
        let mut pool = pool(2..=5);
        // `*`: the next pool address.
        assert_eq!(pool.allocate_for(&policy("*")), Ok(ip(2)));
        // A single address: that address, not a pool address.
        let pinned = Ipv4Addr::new(172, 16, 0, 7);
        assert_eq!(pool.allocate_for(&policy("172.16.0.7")), Ok(pinned));
        assert_eq!(
            pool.allocate_for(&policy("172.16.0.7")),
            Err(PoolError::AddressInUse(pinned))
        );
        // Address and `*`: the pool address is permitted, so pppd keeps it.
        assert_eq!(pool.allocate_for(&policy("172.16.0.8 *")), Ok(ip(3)));
        // A subnet that excludes the next address: searched.
        assert_eq!(
            pool.allocate_for(&policy("10.0.0.5/32 10.0.0.0/30")),
            Ok(ip(5))
        );
        // No address field at all.
        assert_eq!(pool.allocate_for(&policy("")), Err(PoolError::NotPermitted));
        assert_eq!(
            pool.allocate_for(&policy("-")),
            Err(PoolError::NotPermitted)
        );
        // A subnet with nothing free in it.
        assert_eq!(
            pool.allocate_for(&policy("192.168.0.0/24")),
            Err(PoolError::NotPermitted)
        );
        assert_eq!(pool.allocate_for(&policy("*")), Ok(ip(4)));
        assert_eq!(pool.allocate_for(&policy("*")), Err(PoolError::Exhausted));
        assert_eq!(pool.in_use(), 5);
    }

    #[test]
    fn allocate_for_skips_refused_head() {
        let mut pool = pool(2..=4);
        let rules = vec![
            AddressRule {
                permit: false,
                network: "10.0.0.2/32".parse().unwrap(),
            },
            AddressRule {
                permit: true,
                network: "10.0.0.0/24".parse().unwrap(),
            },
        ];
        assert_eq!(
            pool.allocate_for(&AddressPolicy::from_rules(rules)),
            Ok(ip(3))
        );
        assert_eq!(pool.allocate(None), Ok(ip(2)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Allocate,
        AllocateStatic(u8),
        Release(u8),
        Reserve(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Allocate),
            1 => (0u8..24).prop_map(Op::AllocateStatic),
            3 => (0u8..24).prop_map(Op::Release),
            1 => proptest::collection::vec(0u8..24, 0..4).prop_map(Op::Reserve),
        ]
    }

    proptest! {
        /// The pool agrees with a simple model: a FIFO of free addresses and a set in use.
        #[test]
        fn pool_matches_a_model(ops in proptest::collection::vec(op(), 0..200)) {
            // Pool 10.0.0.2..=10.0.0.17; addresses up to 10.0.0.23 exist outside it.
            let mut pool = pool(2..=17);
            let mut free: VecDeque<u8> = (2..=17).collect();
            let mut used: HashSet<u8> = HashSet::new();
            let mut reserved: HashSet<u8> = HashSet::new();
            let member = |n: u8| (2..=17).contains(&n);
            for op in ops {
                match op {
                    Op::Allocate => {
                        let got = pool.allocate(None);
                        match free.pop_front() {
                            Some(n) => {
                                prop_assert_eq!(got, Ok(ip(n)));
                                used.insert(n);
                            }
                            None => prop_assert_eq!(got, Err(PoolError::Exhausted)),
                        }
                    }
                    Op::AllocateStatic(n) => {
                        let got = pool.allocate(Some(ip(n)));
                        if n == 1 {
                            prop_assert_eq!(got, Err(PoolError::Unusable(ip(n))));
                        } else if used.contains(&n) {
                            prop_assert_eq!(got, Err(PoolError::AddressInUse(ip(n))));
                        } else {
                            prop_assert_eq!(got, Ok(ip(n)));
                            used.insert(n);
                            free.retain(|&f| f != n);
                        }
                    }
                    Op::Release(n) => {
                        let got = pool.release(ip(n));
                        if used.remove(&n) {
                            prop_assert_eq!(got, Ok(()));
                            if member(n) && !reserved.contains(&n) {
                                free.push_back(n);
                            }
                        } else {
                            prop_assert_eq!(got, Err(PoolError::NotAllocated(ip(n))));
                        }
                    }
                    Op::Reserve(list) => {
                        pool.set_reserved(list.iter().map(|&n| ip(n)));
                        let new: HashSet<u8> = list.into_iter().collect();
                        let mut unreserved: Vec<u8> = reserved
                            .difference(&new)
                            .copied()
                            .filter(|n| member(*n) && !used.contains(n))
                            .collect();
                        unreserved.sort_unstable();
                        free.retain(|n| !new.contains(n));
                        free.extend(unreserved);
                        reserved = new;
                    }
                }
                prop_assert_eq!(pool.in_use(), used.len());
                prop_assert_eq!(pool.available(), free.len());
            }
        }
    }
}
