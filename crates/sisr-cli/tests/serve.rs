//! `sisr serve` as a process on an ephemeral loopback port: results equal `sisr upscale`'s
//! files byte for byte; bad uploads, unknown models, foreign hosts and origins get 4xx JSON;
//! a full queue answers 503; and a bounded load test loses and mixes up nothing.

use sisr_image::io::{OutputFormat, encode, save};
use sisr_image::{Image, Layout};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sisr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sisr")).args(args).output().expect("run sisr")
}

/// A running server, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::spawn(Server::command(extra).stderr(Stdio::inherit()))
    }

    /// `sisr serve` on an ephemeral loopback port with `extra` arguments, to adjust and spawn.
    fn command(extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sisr"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(extra).stdout(Stdio::piped());
        cmd
    }

    /// Spawns `cmd` and reads the address the server prints once it listens.
    fn spawn(cmd: &mut Command) -> Server {
        let mut child = cmd.spawn().expect("start sisr serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().nth(2).unwrap_or_else(|| panic!("no address in {line:?}"));
        let addr = url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
        Server { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, body read to the end).
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body: a failed write is fine then.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no response to {method} {path}: {}", String::from_utf8_lossy(&raw)));
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = raw[split + 4..].to_vec();
    // Chunked bodies (responses of unknown length) are joined.
    let response = Response { status, headers, body: vec![] };
    if response.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 4 + size..];
        }
        body = out;
    }
    Response { body, ..response }
}

/// A `multipart/form-data` body with an `image` file field and text fields.
fn form(image: Option<(&str, &[u8])>, fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "sisr-test-boundary-7c1f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    if let Some((name, bytes)) = image {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn post_job(addr: SocketAddr, name: &str, bytes: &[u8], fields: &[(&str, &str)]) -> Response {
    let (ctype, body) = form(Some((name, bytes)), fields);
    request(addr, "POST", "/api/jobs", &[("Content-Type", &ctype)], &body)
}

/// Follows a job to its end and returns its result.
fn result_of(addr: SocketAddr, id: &str) -> Response {
    let started = Instant::now();
    loop {
        let v = request(addr, "GET", &format!("/api/jobs/{id}"), &[], b"").json();
        match v["state"].as_str().unwrap() {
            "done" => return request(addr, "GET", &format!("/api/jobs/{id}/result"), &[], b""),
            "failed" | "cancelled" => panic!("job {id} ended: {v}"),
            _ => {
                assert!(started.elapsed() < Duration::from_secs(300), "job {id} did not finish: {v}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn pattern(w: usize, h: usize, layout: Layout, seed: usize) -> Image {
    let n = layout.channels();
    let data = (0..w * h * n).map(|i| ((i * 37 + (i / (w * n)) * 11 + seed * 29) % 251) as u8).collect();
    Image::from_u8(w, h, layout, data)
}

fn deep(w: usize, h: usize) -> Image {
    Image::from_u16(w, h, Layout::Rgb, (0..w * h * 3).map(|i| ((i * 7919 + (i / (w * 3)) * 104_729) % 65_536) as u16).collect())
}

/// Trains DRN x2 for two tiny steps: an RGB model for the server to load with `--weights`.
fn tiny_drn(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("train");
    std::fs::create_dir_all(&data).unwrap();
    save(&pattern(40, 36, Layout::Rgb, 1), &data.join("a.png")).unwrap();
    let run = dir.join("run");
    let o = sisr(&[
        "train",
        "--model",
        "drn",
        "--scale",
        "2",
        "--recipe",
        "quick",
        "--batch",
        "1",
        "--patch",
        "8",
        "--steps",
        "2",
        "--val-every",
        "2",
        "--train",
        data.to_str().unwrap(),
        "--val",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run.join("model.safetensors")
}

#[test]
fn results_equal_the_cli_output_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let drn = tiny_drn(dir.path());
    let server = Server::start(&["--weights", drn.to_str().unwrap()]);
    let cases: Vec<(&str, Image, &str, &str)> = vec![
        ("rgb.png", pattern(23, 17, Layout::Rgb, 3), "dcscn", "2"),
        ("alpha.png", pattern(19, 15, Layout::Rgba, 4), "dcscn-compact", "3"),
        ("deep.png", deep(13, 11), "dcscn", "4"),
        ("rgb-drn.png", pattern(21, 14, Layout::Rgb, 5), "drn", "2"),
        ("deep-alpha-drn.png", Image::from_u16(9, 8, Layout::Rgba, (0..288).map(|i| (i * 227) as u16).collect()), "drn", "2"),
    ];
    for (name, image, model, scale) in cases {
        let input = dir.path().join(name);
        save(&image, &input).unwrap();
        let cli_out = dir.path().join(format!("cli-{name}"));
        let mut args = vec!["upscale", input.to_str().unwrap(), "-o", cli_out.to_str().unwrap(), "--model", model, "--scale", scale];
        if model == "drn" {
            args.extend(["--weights", drn.to_str().unwrap()]);
        }
        let o = sisr(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = post_job(server.addr, name, &std::fs::read(&input).unwrap(), &[("model", model), ("scale", scale)]);
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["id"].as_str().unwrap().to_string();
        let result = result_of(server.addr, &id);
        assert_eq!(result.status, 200);
        assert_eq!(result.header("content-type"), Some("image/png"));
        assert!(result.body == std::fs::read(&cli_out).unwrap(), "{name}: the server's result differs from sisr upscale's");
        // Deleted, it is gone.
        assert_eq!(request(server.addr, "DELETE", &format!("/api/jobs/{id}"), &[], b"").status, 204);
        assert_eq!(request(server.addr, "GET", &format!("/api/jobs/{id}/result"), &[], b"").status, 404);
    }
    // The page, its assets and the API description are served; the catalogue lists the file.
    for path in ["/", "/static/app.js", "/static/style.css", "/api/openapi.json", "/api/charts/x2"] {
        assert_eq!(request(server.addr, "GET", path, &[], b"").status, 200, "{path}");
    }
    let models = request(server.addr, "GET", "/api/models", &[], b"").json();
    assert!(models["models"].as_array().unwrap().iter().any(|m| m["model"] == "dcscn" && m["scale"] == 2));
    assert_eq!(models["files"][0]["model"], "drn");
}

#[test]
fn bad_requests_get_json_errors() {
    let server = Server::start(&["--max-upload-mb", "1", "--max-dimension", "4000"]);
    let a = server.addr;
    let png = encode(&pattern(20, 16, Layout::Rgb, 1), OutputFormat::Png, Path::new("x")).unwrap();
    let expect = |r: Response, status: u16, needle: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        let message = r.json()["error"].as_str().unwrap().to_string();
        assert!(message.contains(needle), "{message:?} should name {needle:?}");
    };
    expect(post_job(a, "garbage.png", b"this is not an image at all", &[]), 422, "not an image");
    expect(post_job(a, "cut.png", &png[..png.len() / 2], &[]), 422, "truncated");
    // A PNG header claiming 100000×100000 pixels.
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    expect(post_job(a, "huge.png", &huge, &[]), 413, "--max-dimension");
    let big = vec![0u8; 2 << 20];
    assert_eq!(post_job(a, "big.png", &big, &[]).status, 413);
    expect(post_job(a, "x.png", &png, &[("model", "srgan")]), 400, "unknown model");
    expect(post_job(a, "x.png", &png, &[("model", "dcscn"), ("scale", "5")]), 400, "dcscn x5");
    expect(post_job(a, "x.png", &png, &[("model", "drfn"), ("scale", "4")]), 400, "drfn x4: no shipped model");
    expect(post_job(a, "x.png", &png, &[("scale", "two")]), 400, "not a number");
    let (ctype, body) = form(None, &[("model", "dcscn")]);
    expect(request(a, "POST", "/api/jobs", &[("Content-Type", &ctype)], &body), 400, "no `image`");
    expect(request(a, "GET", "/api/jobs/0123", &[], b""), 404, "no job");
    expect(request(a, "GET", "/etc/passwd", &[], b""), 404, "no such page");
    expect(request(a, "GET", "/static/..%2f..%2fCargo.toml", &[], b""), 404, "no asset");
    // DNS rebinding and cross-site writes.
    expect(request(a, "GET", "/api/models", &[("Host", "evil.example:80")], b""), 403, "not this server");
    let (ctype, body) = form(Some(("x.png", &png)), &[]);
    expect(request(a, "POST", "/api/jobs", &[("Content-Type", &ctype), ("Origin", "http://evil.example")], &body), 403, "evil.example");
    let own = format!("http://localhost:{}", a.port());
    assert_eq!(request(a, "POST", "/api/jobs", &[("Content-Type", &ctype), ("Origin", &own)], &body).status, 202);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A full queue refuses with 503 and Retry-After and keeps what it accepted. The worker is
/// held at its first job by a pause point, so the queue fills the same way on any machine.
#[test]
fn a_full_queue_answers_503() {
    let mut server = Server::spawn(Server::command(&["--queue", "2"]).env("SISR_TEST_PAUSE", "serve-job@1").stderr(Stdio::piped()));
    let addr = server.addr;
    let mut stderr = BufReader::new(server.child.stderr.take().unwrap());
    let png = encode(&pattern(12, 10, Layout::Rgb, 2), OutputFormat::Png, Path::new("x")).unwrap();
    let first = post_job(addr, "a.png", &png, &[]);
    assert_eq!(first.status, 202);
    // Wait until the worker holds the first job, so the queue is empty again.
    let mut said = String::new();
    while !said.contains(sisr_image::pause::PAUSED) {
        assert!(stderr.read_line(&mut said).unwrap() > 0, "the server ended: {said}");
    }
    let codes: Vec<u16> = (0..4).map(|_| post_job(addr, "b.png", &png, &[]).status).collect();
    assert_eq!(codes, [202, 202, 503, 503]);
    let refused = post_job(addr, "c.png", &png, &[]);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert!(refused.json()["error"].as_str().unwrap().contains("queue is full"));
    // The accepted ones are still there, queued.
    let id = first.json()["id"].as_str().unwrap().to_string();
    assert_eq!(request(addr, "GET", &format!("/api/jobs/{id}"), &[], b"").json()["state"], "running");
}

/// Peak resident memory of a process (Linux `VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Issue 16's load test: 200 requests from 20 concurrent clients of small images. Every
/// accepted job ends with its own right result, every refused one got 503 with Retry-After.
#[test]
fn a_loaded_server_loses_and_mixes_up_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--queue", "16", "--workers", "1"]);
    let inputs: Vec<(Vec<u8>, Vec<u8>)> = (0..10)
        .map(|k| {
            let path = dir.path().join(format!("in{k}.png"));
            save(&pattern(24 + k, 20, Layout::Rgb, k), &path).unwrap();
            let out = dir.path().join(format!("out{k}.png"));
            let o = sisr(&["upscale", path.to_str().unwrap(), "-o", out.to_str().unwrap(), "--model", "dcscn-compact", "--scale", "2"]);
            assert!(o.status.success());
            (std::fs::read(&path).unwrap(), std::fs::read(&out).unwrap())
        })
        .collect();
    let inputs = std::sync::Arc::new(inputs);
    let addr = server.addr;
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|c| {
            let inputs = std::sync::Arc::clone(&inputs);
            std::thread::spawn(move || {
                let (mut done, mut refused) = (0, 0);
                for r in 0..10 {
                    let k = (c * 3 + r) % inputs.len();
                    let resp = post_job(addr, &format!("c{c}r{r}.png"), &inputs[k].0, &[("model", "dcscn-compact"), ("scale", "2")]);
                    if resp.status == 503 {
                        assert!(resp.header("retry-after").is_some());
                        refused += 1;
                        continue;
                    }
                    assert_eq!(resp.status, 202, "{}", String::from_utf8_lossy(&resp.body));
                    let id = resp.json()["id"].as_str().unwrap().to_string();
                    let result = result_of(addr, &id);
                    assert!(result.body == inputs[k].1, "client {c} request {r}: a wrong result");
                    done += 1;
                }
                (done, refused)
            })
        })
        .collect();
    let (mut done, mut refused) = (0, 0);
    for c in clients {
        let (d, r) = c.join().unwrap();
        done += d;
        refused += r;
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(done + refused, 200);
    assert!(done > 0);
    let rss = peak_rss_kib(server.pid());
    eprintln!(
        "load test: {done} jobs done, {refused} refused with 503, {:.1} jobs/s, server peak RSS {} MiB",
        done as f64 / seconds,
        rss.map_or("?".into(), |k| (k / 1024).to_string())
    );
    if let Some(kib) = rss {
        assert!(kib < 1536 * 1024, "peak RSS {kib} KiB");
    }
}

/// Ctrl-C stops the server cleanly and deletes every result it kept.
#[cfg(unix)]
#[test]
fn results_are_deleted_on_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::spawn(Server::command(&[]).env("TMPDIR", tmp.path()).stderr(Stdio::inherit()));
    let addr = server.addr;
    let png = encode(&pattern(12, 10, Layout::Rgb, 2), OutputFormat::Png, Path::new("x")).unwrap();
    let id = post_job(addr, "a.png", &png, &[]).json()["id"].as_str().unwrap().to_string();
    assert_eq!(result_of(addr, &id).status, 200);
    let kept = |dir: &Path| walk(dir).len();
    assert_eq!(kept(tmp.path()), 1, "one result file is kept while the server runs");
    assert!(Command::new("kill").args(["-INT", &server.pid().to_string()]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the results folder is left behind");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { files.extend(walk(&p)) } else { files.push(p) }
    }
    files
}
