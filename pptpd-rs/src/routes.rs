//! Addresses and routes of the TUN device, through rtnetlink.
//!
//! The TUN device carries the `localip` address(es) as /32 host addresses, and
//! every client whose link is up gets a /32 route through the device with the
//! session's local address as preferred source (what pppd's `ip route add
//! <peer> dev ppp0` does for a point-to-point link). Routes are replaced, never
//! added blindly, so a route left by a crashed run does not block a new session.
//! When the TUN device disappears the kernel removes its routes and addresses.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::route::RouteScope;
use rtnetlink::{Handle, RouteMessageBuilder};

/// Errors of route and address changes.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The netlink socket could not be opened.
    #[error("netlink: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel refused a request.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    /// No interface of that name exists.
    #[error("no interface named {0}")]
    NoSuchInterface(String),
}

/// A netlink handle for the TUN device's addresses and routes.
#[derive(Clone, Debug)]
pub struct Routes {
    handle: Handle,
    tun_index: u32,
}

impl Routes {
    /// Connects to rtnetlink (spawning its connection task on the current
    /// tokio runtime) and looks up the TUN device's index.
    pub async fn connect(tun_name: &str) -> Result<Self, RouteError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        let tun_index = interface_index(&handle, tun_name).await?;
        Ok(Self { handle, tun_index })
    }

    /// The rtnetlink handle, for other lookups on the same connection.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Puts `addr`/32 on the TUN device (idempotent).
    pub async fn add_local_address(&self, addr: Ipv4Addr) -> Result<(), RouteError> {
        let result = self
            .handle
            .address()
            .add(self.tun_index, IpAddr::V4(addr), 32)
            .execute()
            .await;
        match result {
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            other => Ok(other?),
        }
    }

    /// Routes `client`/32 through the TUN device, preferring `local` as source.
    pub async fn add_client_route(
        &self,
        client: Ipv4Addr,
        local: Ipv4Addr,
    ) -> Result<(), RouteError> {
        let route = client_route(self.tun_index, client)
            .pref_source(local)
            .build();
        self.handle.route().add(route).replace().execute().await?;
        Ok(())
    }

    /// Removes the client's /32 route; a route that is already gone is not an error.
    pub async fn remove_client_route(&self, client: Ipv4Addr) -> Result<(), RouteError> {
        let route = client_route(self.tun_index, client).build();
        match self.handle.route().del(route).execute().await {
            Err(rtnetlink::Error::NetlinkError(e))
                if e.raw_code() == -libc::ESRCH || e.raw_code() == -libc::ENOENT =>
            {
                Ok(())
            }
            other => Ok(other?),
        }
    }
}

fn client_route(tun_index: u32, client: Ipv4Addr) -> RouteMessageBuilder<Ipv4Addr> {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(client, 32)
        .output_interface(tun_index)
        .scope(RouteScope::Link)
}

async fn interface_index(handle: &Handle, name: &str) -> Result<u32, RouteError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(link.header.index),
        Ok(None) => Err(RouteError::NoSuchInterface(name.to_string())),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {
            Err(RouteError::NoSuchInterface(name.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}
