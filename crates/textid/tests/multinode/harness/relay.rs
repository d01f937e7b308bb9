//! [`NsRelay`]: makes a TCP port inside a namespace reachable from the test process on
//! 127.0.0.1, without giving the root namespace an address or a route into the namespace.
//!
//! Two halves meet at a Unix socket, which lives in the file system and so is shared by all
//! namespaces:
//! - inside the namespace, `socat UNIX-LISTEN:<dir>/relay.sock,fork TCP:<target>` (a process
//!   there is the only way into its loopback without `setns`, which needs `unsafe`);
//! - in the test process, a TCP listener on 127.0.0.1:0 that pipes each connection to the
//!   socket. It binds port 0 itself (no window in which another process takes a port picked
//!   earlier) and runs on a thread with its own runtime, so it keeps relaying while the test
//!   blocks, whatever runtime the test uses.
//!
//! Cutting a namespace's veth leaves the relay working: it never crosses a veth.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::thread::JoinHandle;

use tempfile::TempDir;
use tokio::sync::oneshot;

use super::{netns::Background, tail, wait_until, NetNs, DEADLINE};

/// A relay from 127.0.0.1:`addr().port()` in the test's namespace to a TCP address inside
/// another namespace (see the module docs). Stopped on drop.
#[derive(Debug)]
pub struct NsRelay {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    inner: Background,
    _dir: TempDir,
}

impl NsRelay {
    /// Relays to `target` (e.g. `127.0.0.1:<port>`) inside namespace `ns`.
    pub fn start(ns: &NetNs, target: SocketAddr) -> Self {
        Self::start_in(ns.name(), target)
    }

    pub(super) fn start_in(ns: &str, target: SocketAddr) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("textid-relay-")
            .tempdir()
            .expect("temporary directory for a relay");
        let sock = dir.path().join("relay.sock");
        let log = dir.path().join("socat.log");
        let mut cmd = std::process::Command::new(super::require_program("ip"));
        cmd.args(["netns", "exec", ns])
            .arg(super::require_program("socat"))
            .arg(format!("UNIX-LISTEN:{},fork", sock.display()))
            .arg(format!("TCP:{target}"));
        let mut inner = Background::spawn(cmd, &log);
        wait_until("the relay socket inside the namespace", DEADLINE, || {
            assert!(inner.is_running(), "socat exited: {}", tail(&log, 20));
            sock.exists()
        });
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("bind 127.0.0.1:0 for a relay");
        let addr = listener.local_addr().expect("relay address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking relay listener");
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("relay-{}", addr.port()))
            .spawn(move || relay(listener, sock, stopped))
            .expect("relay thread");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            inner,
            _dir: dir,
        }
    }

    /// 127.0.0.1:port in the test's namespace.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Accepts until `stopped` fires; each connection is piped to the Unix socket. Dropping the
/// runtime at the end drops every open pipe.
fn relay(listener: std::net::TcpListener, sock: PathBuf, mut stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("relay runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("relay listener");
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((mut tcp, _)) = accepted else { continue };
                    let sock = sock.clone();
                    tokio::spawn(async move {
                        if let Ok(mut unix) = tokio::net::UnixStream::connect(&sock).await {
                            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                        }
                    });
                }
            }
        }
    });
}

impl Drop for NsRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.inner.kill();
    }
}
