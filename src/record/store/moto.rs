//! A local S3-compatible server for tests and trials: `moto` in server mode (Python,
//! `pip install 'moto[server]'`), started on a free loopback port and stopped when dropped. It
//! implements S3's conditional writes (`If-None-Match: *`, `If-Match`), as the shared store needs.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `python -m moto.server` on a free loopback port and waits until it accepts
    /// connections (at most 60 s).
    pub fn start(python: &str) -> std::io::Result<Moto> {
        Moto::start_logging(python, None)
    }

    /// As [`Moto::start`], its request log (one line per S3 request) written to `log`: the
    /// store benchmark counts the store's requests per clip from it.
    pub fn start_logging(python: &str, log: Option<std::fs::File>) -> std::io::Result<Moto> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.map_or_else(Stdio::null, Stdio::from))
            .spawn()?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline || moto.child.try_wait()?.is_some() {
                return Err(std::io::Error::other("moto did not start (is moto[server] installed?)"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub async fn bucket(&self, name: &str) -> Result<(), reqwest::Error> {
        reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The environment a client needs to reach it.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
