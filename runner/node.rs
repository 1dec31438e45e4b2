//! Which Azure VM size this node is: `--node-size`, then
//! `RISKPOOL_NODE_SIZE`, then the instance metadata service, which is asked
//! only inside Azure Batch (`AZ_BATCH_NODE_ID` set), with a 2 s timeout, at
//! `RISKPOOL_IMDS_ENDPOINT` (default: Azure's link-local address). Tests
//! serve the endpoint on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use riskpool_kernels::env;

/// Azure's instance metadata endpoint (link-local, only inside Azure).
pub const DEFAULT_IMDS: &str = "http://169.254.169.254";
const VM_SIZE_PATH: &str = "/metadata/instance/compute/vmSize?api-version=2021-02-01&format=text";
const TIMEOUT: Duration = Duration::from_secs(2);

/// The node size and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSize {
    pub name: Option<String>,
    pub source: String,
}

pub fn detect(flag: Option<&str>) -> NodeSize {
    if let Some(s) = flag {
        return NodeSize {
            name: Some(s.to_string()),
            source: "--node-size".into(),
        };
    }
    if let Some(s) = env::NODE_SIZE.get() {
        if !s.trim().is_empty() {
            return NodeSize {
                name: Some(s.trim().to_string()),
                source: env::NODE_SIZE.name.into(),
            };
        }
    }
    if std::env::var_os("AZ_BATCH_NODE_ID").is_none() {
        return NodeSize {
            name: None,
            source: "unknown (not inside Azure Batch, so the metadata service was not asked)"
                .into(),
        };
    }
    let endpoint = env::IMDS_ENDPOINT
        .get()
        .unwrap_or_else(|| DEFAULT_IMDS.to_string());
    match http_get(&endpoint, VM_SIZE_PATH) {
        Ok(body) if !body.trim().is_empty() => NodeSize {
            name: Some(body.trim().to_string()),
            source: format!("instance metadata ({endpoint})"),
        },
        Ok(_) => NodeSize {
            name: None,
            source: format!("instance metadata ({endpoint}) returned no size"),
        },
        Err(e) => NodeSize {
            name: None,
            source: format!("instance metadata ({endpoint}) unreachable: {e}"),
        },
    }
}

/// A plain-HTTP GET with the `Metadata: true` header IMDS requires.
fn http_get(endpoint: &str, path: &str) -> Result<String, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or("only http:// endpoints")?;
    let host = rest.trim_end_matches('/');
    let with_port = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).ok();
    s.set_write_timeout(Some(TIMEOUT)).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nMetadata: true\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed response")?;
    let status = head.lines().next().unwrap_or("");
    if !status.split_whitespace().nth(1).is_some_and(|c| c == "200") {
        return Err(format!("HTTP status `{status}`"));
    }
    Ok(body.to_string())
}
