//! `riskpool probe` and the node's hardware: the node size from the
//! instance metadata service (served here on 127.0.0.1, asked only inside
//! Batch), the catalog's expectations and the warnings when the node has
//! less, and GPU claims that keep concurrent tasks on distinct GPUs.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A metadata server on 127.0.0.1 answering each request with the next
/// size, and counting the requests that carried `Metadata: true`.
fn imds(sizes: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(64).enumerate() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line);
            }
            let ok = head
                .first()
                .is_some_and(|l| l.starts_with("GET /metadata/instance/compute/vmSize"))
                && head
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case("Metadata: true\r\n"));
            h.fetch_add(1, Ordering::SeqCst);
            let body = if ok { sizes[i % sizes.len()] } else { "" };
            let status = if ok { "200 OK" } else { "400 Bad Request" };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), hits)
}

fn probe(env: &[(&str, &str)], args: &[&str]) -> (serde_json::Value, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riskpool"));
    c.args(["probe", "--json"])
        .args(args)
        .env_remove("AZ_BATCH_NODE_ID")
        .env_remove("RISKPOOL_NODE_SIZE");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        serde_json::from_slice(&o.stdout).unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn node_sizes_come_from_the_metadata_service_inside_batch_only() {
    let (endpoint, hits) = imds(vec![
        "Standard_NC24ads_A100_v4",
        "Standard_ND96isr_H100_v5",
        "Standard_D16s_v5",
        "Standard_NV36ads_A10_v5",
    ]);
    // Outside Batch: never asked, even with the endpoint set.
    let (r, _) = probe(&[("RISKPOOL_IMDS_ENDPOINT", &endpoint)], &[]);
    assert_eq!(r["node_size"]["name"], serde_json::Value::Null);
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    let batch = [
        ("AZ_BATCH_NODE_ID", "tvm-1"),
        ("RISKPOOL_IMDS_ENDPOINT", endpoint.as_str()),
    ];
    let no_gpu_here = riskpool_kernels::engine::cuda::devices().map_or(true, |d| d.is_empty());
    for (size, gpus) in [
        ("Standard_NC24ads_A100_v4", 1.0),
        ("Standard_ND96isr_H100_v5", 8.0),
    ] {
        let (r, stderr) = probe(&batch, &[]);
        assert_eq!(r["node_size"]["name"], size);
        assert!(r["node_size"]["source"]
            .as_str()
            .unwrap()
            .starts_with("instance metadata"));
        assert_eq!(r["node_size"]["catalog"]["gpus"], gpus);
        assert_eq!(r["node_size"]["catalog"]["vendor"], "Nvidia");
        if no_gpu_here {
            // A GPU size on a machine without GPUs: a loud warning, and the CPU.
            let w = r["warnings"].as_array().unwrap();
            assert!(
                w.iter()
                    .any(|w| w.as_str().unwrap().contains("CUDA devices are visible")),
                "{w:?}"
            );
            assert!(stderr.contains("riskpool: warning:"), "{stderr}");
            assert_eq!(r["auto_engine"], "cpu");
        }
    }
    let (r, _) = probe(&batch, &[]);
    assert_eq!(r["node_size"]["name"], "Standard_D16s_v5");
    assert_eq!(r["node_size"]["catalog"]["gpus"], 0.0);
    let (r, _) = probe(&batch, &[]);
    assert_eq!(r["node_size"]["catalog"]["gpus"].as_f64().unwrap(), 1.0);
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    // The flag and the variable come first, and then nothing is asked.
    let (r, _) = probe(&batch, &["--node-size", "Standard_HB120rs_v3"]);
    assert_eq!(r["node_size"]["source"], "--node-size");
    let mut env = batch.to_vec();
    env.push(("RISKPOOL_NODE_SIZE", "Standard_F72s_v2"));
    let (r, _) = probe(&env, &[]);
    assert_eq!(r["node_size"]["name"], "Standard_F72s_v2");
    assert_eq!(r["node_size"]["catalog"]["vcpus"], 72);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[test]
fn an_unreachable_metadata_service_is_an_answer_not_a_hang() {
    // A port with nothing listening on 127.0.0.1.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let t0 = std::time::Instant::now();
    let (r, _) = probe(
        &[
            ("AZ_BATCH_NODE_ID", "tvm-1"),
            ("RISKPOOL_IMDS_ENDPOINT", &endpoint),
        ],
        &[],
    );
    assert!(t0.elapsed().as_secs_f64() < 10.0);
    assert_eq!(r["node_size"]["name"], serde_json::Value::Null);
    assert!(
        r["node_size"]["source"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{r}"
    );
}

#[test]
fn concurrent_tasks_claim_distinct_gpus() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let trades = d.path().join("t.csv");
    assert!(Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args([
            "generate",
            "--trades",
            "400",
            "--output",
            trades.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    let start = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_riskpool"))
            .args([
                "price",
                "--input",
                trades.to_str().unwrap(),
                "--output",
                d.path().join(name).to_str().unwrap(),
            ])
            .args(["--paths", "4000", "--gpus-per-task", "1", "--threads", "1"])
            .env("RISKPOOL_FAKE_GPUS", "2")
            .env("AZ_BATCH_NODE_SHARED_DIR", d.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let gpus = |name: &str| -> Vec<u64> {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join(format!("{name}.summary.json"))).unwrap(),
        )
        .unwrap();
        s["gpus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_u64().unwrap())
            .collect()
    };
    let (mut a, mut b) = (start("a.csv"), start("b.csv"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let (ga, gb) = (gpus("a.csv"), gpus("b.csv"));
    assert_eq!(ga.len(), 1);
    assert_eq!(gb.len(), 1);
    assert_ne!(ga, gb, "two tasks took the same GPU");

    // A task killed while holding a GPU releases it.
    let mut c = start("c.csv");
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.kill().unwrap();
    c.wait().unwrap();
    let mut e = start("e.csv");
    assert!(e.wait().unwrap().success());
    assert_eq!(gpus("e.csv"), vec![0]);
}

/// Claims follow the GPU, not the number a task sees it by: a task whose
/// CUDA_VISIBLE_DEVICES shows only the node's second GPU (its ordinal 0)
/// and a task that sees both never hold the same GPU.
#[test]
fn claims_are_keyed_by_the_gpu_uuid_whatever_the_mask() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let trades = d.path().join("t.csv");
    assert!(Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args(["generate", "--trades", "400", "--output"])
        .arg(&trades)
        .status()
        .unwrap()
        .success());
    let start = |name: &str, gpus: &str, per_task: &str, paths: &str| {
        Command::new(env!("CARGO_BIN_EXE_riskpool"))
            .args(["price", "--input", trades.to_str().unwrap(), "--output"])
            .arg(d.path().join(name))
            .args([
                "--paths",
                paths,
                "--gpus-per-task",
                per_task,
                "--threads",
                "1",
            ])
            .env("RISKPOOL_FAKE_GPUS", gpus)
            .env("AZ_BATCH_NODE_SHARED_DIR", d.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let gpus = |name: &str| -> serde_json::Value {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join(format!("{name}.summary.json"))).unwrap(),
        )
        .unwrap();
        s["gpus"].clone()
    };
    // The masked task holds GPU-b, its ordinal 0, until it ends.
    let mut masked = start("masked.csv", "GPU-b", "1", "20000");
    let lock = d.path().join("riskpool-gpu-GPU-b.lock");
    let t0 = std::time::Instant::now();
    loop {
        let held = std::fs::File::open(&lock).is_ok_and(|f| f.try_lock().is_err());
        if held {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 20,
            "the masked task never claimed its GPU"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The unmasked one asks for both and gets only GPU-a, its ordinal 0.
    let mut all = start("all.csv", "GPU-a,GPU-b", "2", "100");
    assert!(all.wait().unwrap().success());
    assert!(masked.wait().unwrap().success());
    assert_eq!(gpus("all.csv"), serde_json::json!([0]));
    assert_eq!(gpus("masked.csv"), serde_json::json!([0]));
}
