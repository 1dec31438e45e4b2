//! The Batch service's documented rules that its REST schema does not
//! express, checked before anything is written. Each refusal names the flag
//! and the body field it becomes.
//!
//! | rule | source |
//! |---|---|
//! | pool, job ids: 1 to 64 letters, digits, hyphens, underscores | Pool_Add / Job_Add `id`; the management plane's `poolName` pattern `^[a-zA-Z0-9_-]+$`, length 1-64 |
//! | task slots per node: 1 to 256, and at most 4 x the size's vCPUs | `taskSlotsPerNode` ("the smaller of 4 times the number of cores of the vmSize or 256") |
//! | autoscale evaluation interval: 5 minutes to 168 hours | `autoScaleEvaluationInterval` / `evaluationInterval` |
//! | identity: `/subscriptions/GUID/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME` | `identityReference.resourceId`, `userAssignedIdentities` keys |
//! | gallery image: `/subscriptions/GUID/resourceGroups/RG/providers/Microsoft.Compute/galleries/G/images/I[/versions/V]` | `imageReference.id` |
//! | VM size: `Standard_` then the family, the vCPU count and letters, digits, `_`, `-` | `vmSize` |
//! | the container image is in the registry the pool logs in to | `containerImageNames`, `containerRegistries[].registryServer` |
//! | a data-plane pool has no identity | Pool_Add has no `identity` property |
//! | storage: `https://ACCOUNT.blob.SUFFIX/CONTAINER`, account 3-24 lower-case letters and digits, container 3-63 lower-case letters, digits, single hyphens | blob storage naming rules |
//! | price tasks: 1 to 10,000 and no more than the trades; trades at most 10^9 | riskpool's own bound: a job that Batch can schedule in reasonable time |
//! | container image: `REGISTRY[:PORT]/PATH[:TAG][@DIGEST]`, path components `[a-z0-9]+((\.\|_\|__\|-+)[a-z0-9]+)*`, tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, digest `sha256:` 64 (or `sha512:` 128) lower-case hex | the OCI distribution reference grammar (the registry required: the nodes pull from a private one); `containerImageNames`, `containerSettings.imageName` |
//! | registry: host components of letters, digits and inner hyphens joined by `.`, an optional port 1-65535 | the same grammar's `domain`; `containerRegistries[].registryServer` |
//! | node agent SKU: `batch.node.` then letters, digits, `.`, `_`, `-` and single spaces, at most 64 | the ids List Supported Images returns (`batch.node.ubuntu 22.04`); `nodeAgentSkuId` |
//! | node image parts: letters, digits, `.`, `_`, `-`, starting with a letter or digit | marketplace `imageReference` publisher, offer, sku, version |
//! | autoscale formula: no control characters but line breaks and tabs | `autoScaleFormula` |
//! | retries: 0 to 10, never -1 (Batch's "without limit") | riskpool's own bound; `constraints.maxTaskRetryCount` |
//! | time limits: tasks PT1M to P7D, the job PT1M to P30D and no shorter than a task's | riskpool's own bound (a hung task would keep its node billed); `constraints.maxWallClockTime` |
//! | a price job's book: `NAME.csv` (azfinsim CSV, the one format `riskpool split` reads) | riskpool split |
//! | `--market` on risk jobs only (a price job's azfinsim CSV has no dated trades) | riskpool azfinsim |
//! | `--book`, `--scenarios`, `--market`: blob names of 1 to 1,024 letters, digits, `.`, `_`, `-`, with `/` between non-empty parts other than `.` and `..` | riskpool's own bound: one shell word, one blob |
//! | with `--pool-body`: the job's identity is one of the pool's; `--image` exactly when the pool has a `containerConfiguration`, from one of its `containerRegistries` | the pool the job runs on |
//!
//! Ids may begin with `-` (the service allows it): every command line and
//! `run.sh` takes them as names, never options (`./`, `--`, `--flag=VALUE`,
//! quoting; see [`super::script::sh_quote`]).
//!
//! What these do not cover: the per-size vCPU count is read from the size's
//! name (`Standard_NC24ads_A100_v4` has 24), so sizes of the first
//! generation (`Standard_D4`, no `_vN`), whose names do not give it, are
//! held to 256 only; whether a size exists in a region, quotas, and whether
//! an identity or image exists are the service's to answer.

use super::job::JobOptions;
use super::pool::PoolOptions;
use super::{NodeImage, Plane, Scale};
use crate::schema::duration_seconds;

/// One rule a value breaks.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refusal {
    /// The flag and the body field, e.g. `--task-slots (taskSlotsPerNode)`.
    pub field: String,
    pub message: String,
}

fn refuse(out: &mut Vec<Refusal>, field: &str, message: String) {
    out.push(Refusal {
        field: field.to_string(),
        message,
    });
}

/// Most price tasks in one job.
pub const MAX_PRICE_TASKS: u64 = 10_000;
/// Most trades in one job.
pub const MAX_TRADES: u64 = 1_000_000_000;

/// A pool, job or task id: 1 to 64 of letters, digits, `-` and `_`.
pub fn id_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_id(out: &mut Vec<Refusal>, field: &str, s: &str) {
    if !id_ok(s) {
        refuse(
            out,
            field,
            format!(
                "`{s}` is not a Batch id: 1 to 64 letters, digits, hyphens and underscores ({} characters given)",
                s.chars().count()
            ),
        );
    }
}

fn guid_ok(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn resource_group_ok(s: &str) -> bool {
    (1..=90).contains(&s.len())
        && !s.ends_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.()".contains(&b))
}

fn name_ok(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `/subscriptions/S/resourceGroups/RG/providers/NAMESPACE/TYPE/NAME...`:
/// the segments after the provider namespace when the prefix is well formed.
fn resource_tail<'a>(id: &'a str, namespace: &str) -> Option<Vec<&'a str>> {
    let p: Vec<&str> = id.split('/').collect();
    let ok = p.len() > 7
        && p[0].is_empty()
        && p[1].eq_ignore_ascii_case("subscriptions")
        && guid_ok(p[2])
        && p[3].eq_ignore_ascii_case("resourceGroups")
        && resource_group_ok(p[4])
        && p[5].eq_ignore_ascii_case("providers")
        && p[6].eq_ignore_ascii_case(namespace);
    ok.then(|| p[7..].to_vec())
}

/// A user-assigned managed identity's resource id.
pub fn identity_ok(id: &str) -> bool {
    match resource_tail(id, "Microsoft.ManagedIdentity").as_deref() {
        Some([kind, name]) => {
            kind.eq_ignore_ascii_case("userAssignedIdentities")
                && (3..=128).contains(&name.len())
                && name_ok(name, 128)
                && !name.contains('.')
        }
        _ => false,
    }
}

/// An Azure Compute Gallery image (or image version) resource id.
pub fn gallery_image_ok(id: &str) -> bool {
    let named =
        |kind: &str, want: &str, name: &str| kind.eq_ignore_ascii_case(want) && name_ok(name, 80);
    match resource_tail(id, "Microsoft.Compute").as_deref() {
        Some([g, gn, i, iname]) => named(g, "galleries", gn) && named(i, "images", iname),
        Some([g, gn, i, iname, v, vname]) => {
            named(g, "galleries", gn) && named(i, "images", iname) && named(v, "versions", vname)
        }
        _ => false,
    }
}

/// The vCPU count a size's name gives (`Standard_NC24ads_A100_v4`: 24;
/// constrained `Standard_E8-4s_v5`: 4), or None for a malformed name.
/// `Some(None)`: well formed, but a first-generation name with no count.
pub fn vm_size_vcpus(size: &str) -> Option<Option<u32>> {
    let rest = size
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case("standard_"))
        .map(|_| &size[9..])?;
    let family_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
    let digits = rest[family_len..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    let tail = &rest[family_len + digits..];
    if family_len == 0
        || digits == 0
        || !tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    let mut vcpus: u32 = rest[family_len..family_len + digits].parse().ok()?;
    // Constrained sizes: `E8-4s` runs 4 of 8.
    if let Some(c) = tail.strip_prefix('-') {
        let n: String = c.chars().take_while(char::is_ascii_digit).collect();
        vcpus = n.parse().ok()?;
    }
    let versioned = tail.split('_').any(|seg| {
        seg.len() > 1 && seg.starts_with(['v', 'V']) && seg[1..].bytes().all(|b| b.is_ascii_digit())
    });
    Some(versioned.then_some(vcpus))
}

/// A registry server, `host[:port]` as the OCI distribution reference
/// grammar writes it: host components of letters and digits with inner
/// hyphens, joined by `.`; a port of digits. It must look like a host (a
/// `.`, a port, or `localhost`), not like a Docker Hub repository name.
pub fn registry_ok(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.len() <= 63
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    (1..=253).contains(&host.len())
        && host.split('.').all(component_ok)
        && port_ok
        && (host.contains('.') || port.is_some() || host == "localhost")
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`: one `/`-separated part of a
/// repository name.
fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    // Runs of separators between alphanumeric runs: `.`, `_`, `__`, or any
    // number of `-`.
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Why `reference` is not a full image reference
/// (`REGISTRY/PATH[:TAG][@ALGORITHM:HEX]`, the OCI distribution grammar
/// with the registry required), naming the part that is wrong; None when
/// it is one.
pub fn image_reference_problem(reference: &str) -> Option<String> {
    if let Some(c) = reference
        .chars()
        .find(|c| c.is_control() || c.is_whitespace())
    {
        return Some(format!(
            "it holds the character {c:?}; an image reference has no spaces or control characters"
        ));
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let Some((registry, rest)) = name_tag.split_once('/') else {
        return Some(
            "no registry: write it as REGISTRY/NAME:TAG, such as myacr.azurecr.io/riskpool:cuda"
                .into(),
        );
    };
    if !registry_ok(registry) {
        return Some(format!(
            "the registry `{registry}` is not a host[:port] such as myacr.azurecr.io"
        ));
    }
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Some("the repository path is empty".into());
    }
    if let Some(c) = path.split('/').find(|c| !path_component_ok(c)) {
        return Some(format!(
            "the repository path component `{c}` is not lower-case letters and digits joined by `.`, `_`, `__` or hyphens (empty components, as in `//`, are not allowed)"
        ));
    }
    if registry.len() + 1 + path.len() > 255 {
        return Some(
            "the repository name (registry and path) is longer than 255 characters".into(),
        );
    }
    if let Some(t) = tag {
        let b = t.as_bytes();
        let ok = (1..=128).contains(&b.len())
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&x| x.is_ascii_alphanumeric() || b"._-".contains(&x));
        if !ok {
            return Some(format!(
                "the tag `{t}` is not 1 to 128 letters, digits, `_`, `.` and `-` starting with a letter, digit or `_`"
            ));
        }
    }
    if let Some(d) = digest {
        let Some((algorithm, hex)) = d.split_once(':') else {
            return Some(format!("the digest `{d}` is not ALGORITHM:HEX"));
        };
        let want = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Some(format!(
                    "the digest algorithm `{algorithm}` is not sha256 or sha512"
                ))
            }
        };
        if hex.len() != want
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Some(format!(
                "the digest `{d}` is not {algorithm}: followed by {want} lower-case hex digits"
            ));
        }
    }
    None
}

/// Why `sku` is not a Batch node agent SKU id (`batch.node.ubuntu 22.04`),
/// or None.
pub fn node_agent_problem(sku: &str) -> Option<String> {
    let Some(rest) = sku.strip_prefix("batch.node.") else {
        return Some(format!(
            "{sku:?} is not a node agent SKU id: `batch.node.` then the OS, such as `batch.node.ubuntu 22.04`"
        ));
    };
    let ok = (1..=64).contains(&sku.len())
        && rest
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && rest
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" ._-".contains(&b))
        && !rest.contains("  ");
    (!ok).then(|| format!(
        "{sku:?} is not a node agent SKU id: `batch.node.` then letters, digits, `.`, `_`, `-` and single spaces, such as `batch.node.ubuntu 22.04` (at most 64 characters)"
    ))
}

/// Whether `s` is a marketplace image part (publisher, offer, sku,
/// version): letters, digits, `.`, `_`, `-`, starting with a letter or digit.
pub fn marketplace_part_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The pool's rules; empty when every one holds.
pub fn check_pool(o: &PoolOptions, plane: Plane) -> Vec<Refusal> {
    let mut out = Vec::new();
    check_id(&mut out, "--id (id)", &o.id);
    let vcpus = vm_size_vcpus(&o.vm_size);
    if vcpus.is_none() {
        refuse(
            &mut out,
            "--vm-size (vmSize)",
            format!(
                "`{}` is not an Azure VM size name (like Standard_NC24ads_A100_v4)",
                o.vm_size
            ),
        );
    }
    let cap = match vcpus.flatten() {
        Some(n) => (4 * n).min(256),
        None => 256,
    };
    if o.task_slots < 1 || o.task_slots > cap {
        let why = match vcpus.flatten() {
            Some(n) => format!(
                "1 to {cap} on {} ({n} vCPUs: at most 4 a vCPU, and 256)",
                o.vm_size
            ),
            None => "1 to 256".to_string(),
        };
        refuse(
            &mut out,
            "--task-slots (taskSlotsPerNode)",
            format!("{} is outside {why}", o.task_slots),
        );
    }
    if let Scale::Auto { interval, formula } = &o.scale {
        if formula.trim().is_empty() {
            refuse(
                &mut out,
                "--autoscale (autoScaleFormula)",
                "the formula is empty".into(),
            );
        }
        // Formulas span lines; other control characters are no part of one.
        if let Some(c) = formula
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            refuse(
                &mut out,
                "--autoscale (autoScaleFormula)",
                format!("the formula holds the control character {c:?}"),
            );
        }
        match duration_seconds(interval) {
            Some(s) if (300.0..=168.0 * 3600.0).contains(&s) => {}
            Some(_) => refuse(
                &mut out,
                "--autoscale-interval (autoScaleEvaluationInterval)",
                format!("`{interval}` is outside 5 minutes (PT5M) to 168 hours (PT168H)"),
            ),
            None => refuse(
                &mut out,
                "--autoscale-interval (autoScaleEvaluationInterval)",
                format!("`{interval}` is not an ISO 8601 duration such as PT5M"),
            ),
        }
    }
    if let Some(id) = &o.identity {
        if !identity_ok(id) {
            refuse(&mut out, "--identity (identity.userAssignedIdentities)", format!(
                "`{id}` is not a user-assigned identity's resource id: /subscriptions/GUID/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME"));
        }
        if plane == Plane::Data {
            refuse(&mut out, "--identity", "a data-plane pool (Pool_Add) cannot have a managed identity: use --plane management (the default)".into());
        }
    }
    if let Some(why) = node_agent_problem(&o.node_agent_sku) {
        refuse(&mut out, "--node-agent (nodeAgentSkuId)", why);
    }
    match &o.image {
        NodeImage::Container {
            image,
            registry,
            node,
        } => {
            for (part, value) in [
                ("publisher", &node.publisher),
                ("offer", &node.offer),
                ("sku", &node.sku),
                ("version", &node.version),
            ] {
                if !marketplace_part_ok(value) {
                    refuse(
                        &mut out,
                        &format!("--node-image (imageReference.{part})"),
                        format!(
                            "{value:?} is not a marketplace image {part}: letters, digits, `.`, `_` and `-`, starting with a letter or digit"
                        ),
                    );
                }
            }
            if !registry_ok(registry) {
                refuse(
                    &mut out,
                    "--registry (containerRegistries[].registryServer)",
                    format!(
                        "`{}` is not a registry server name (host[:port]) such as myacr.azurecr.io",
                        registry.escape_debug()
                    ),
                );
            }
            if let Some(why) = image_reference_problem(image) {
                refuse(
                    &mut out,
                    "--image (containerImageNames)",
                    format!(
                        "`{}` is not a full image reference: {why}",
                        image.escape_debug()
                    ),
                );
            }
            let of = crate::container::registry_of(image);
            if !image.contains('/') || !of.eq_ignore_ascii_case(registry) {
                refuse(&mut out, "--image (containerImageNames)", format!(
                    "`{image}` is not in the registry `{registry}` (--registry): the nodes log in to that registry only; write the image as {registry}/NAME:TAG"));
            }
        }
        NodeImage::Custom { gallery_image_id } => {
            if !gallery_image_ok(gallery_image_id) {
                refuse(&mut out, "--gallery-image (imageReference.id)", format!(
                    "`{gallery_image_id}` is not a gallery image's resource id: /subscriptions/GUID/resourceGroups/RG/providers/Microsoft.Compute/galleries/G/images/I[/versions/V]"));
            }
        }
    }
    out
}

/// A blob container URL: `https://ACCOUNT.blob.SUFFIX/CONTAINER`.
pub fn storage_url_ok(url: &str) -> bool {
    let Some(rest) = url.trim_end_matches('/').strip_prefix("https://") else {
        return false;
    };
    let Some((host, container)) = rest.split_once('/') else {
        return false;
    };
    let Some((account, suffix)) = host.split_once(".blob.") else {
        return false;
    };
    let lower_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (3..=24).contains(&account.len())
        && account.bytes().all(lower_alnum)
        && !suffix.is_empty()
        && suffix.bytes().all(|b| lower_alnum(b) || b == b'.')
        && (3..=63).contains(&container.len())
        && container.bytes().all(|b| lower_alnum(b) || b == b'-')
        && !container.starts_with('-')
        && !container.ends_with('-')
        && !container.contains("--")
}

/// The job's rules; empty when every one holds.
pub fn check_job(o: &JobOptions) -> Vec<Refusal> {
    let mut out = Vec::new();
    check_id(&mut out, "--id (id)", &o.id);
    check_id(&mut out, "--pool-id (poolInfo.poolId)", &o.pool_id);
    if o.trades == 0 || o.trades > MAX_TRADES {
        refuse(
            &mut out,
            "--trades",
            format!("{} is outside 1 to {MAX_TRADES}", o.trades),
        );
    }
    if o.price_tasks == 0 || o.price_tasks > MAX_PRICE_TASKS || o.price_tasks > o.trades.max(1) {
        refuse(&mut out, "--tasks", format!(
            "{} is outside 1 to {} (at most {MAX_PRICE_TASKS} price tasks, and no more than the trades)",
            o.price_tasks, MAX_PRICE_TASKS.min(o.trades.max(1))));
    }
    if !storage_url_ok(&o.storage.url) {
        refuse(&mut out, "--storage-url (resourceFiles, outputFiles)", format!(
            "`{}` is not a blob container URL: https://ACCOUNT.blob.core.windows.net/CONTAINER (account 3-24 lower-case letters and digits, container 3-63 lower-case letters, digits and single hyphens)", o.storage.url));
    }
    if !identity_ok(&o.storage.identity) {
        refuse(&mut out, "--identity (identityReference.resourceId)", format!(
            "`{}` is not a user-assigned identity's resource id: /subscriptions/GUID/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME", o.storage.identity));
    }
    let blob_ok = |name: &str| {
        (1..=1024).contains(&name.len())
            && !name.starts_with('/')
            && !name.ends_with('/')
            && !name
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
    };
    for (flag, name) in [
        ("--book", &o.book),
        ("--scenarios", &o.scenarios),
        ("--market", &o.market),
    ] {
        if let Some(name) = name {
            if !blob_ok(name) {
                refuse(&mut out, flag, format!(
                    "`{name}` is not a blob name riskpool-image accepts: letters, digits, `.`, `_`, `-` and `/` between non-empty parts"));
            }
        }
    }
    match o.kind {
        super::job::JobKind::Risk => {
            if o.book.is_none() {
                refuse(&mut out, "--book", "a risk job revalues an existing book (portfolio JSON Lines with `underlying` names): give its blob name".to_string());
            }
            if o.scenarios.is_none() {
                refuse(
                    &mut out,
                    "--scenarios",
                    "a risk job needs the scenario file's blob name".to_string(),
                );
            }
        }
        super::job::JobKind::Price => {
            // split reads azfinsim CSV only (its header checked), so a
            // portfolio book (JSON Lines, JSON) would fail on the node.
            if let Some(book) = &o.book {
                if !book.to_ascii_lowercase().ends_with(".csv") {
                    refuse(&mut out, "--book", format!(
                        "`{book}` is not named as an azfinsim CSV trade file (NAME.csv): a price job splits and prices azfinsim CSV only (riskpool split reads no other format); a portfolio book (JSON Lines or JSON) is revalued by --kind risk, or priced locally with riskpool price"));
                }
            }
            if o.scenarios.is_some() {
                refuse(
                    &mut out,
                    "--scenarios",
                    "scenarios are for --kind risk".to_string(),
                );
            }
            // The price tasks run `riskpool azfinsim` on azfinsim CSV parts:
            // no dated trades, nothing a market file would price.
            if o.market.is_some() {
                refuse(&mut out, "--market", "a price job prices azfinsim CSV trades (riskpool split reads no other format), which carry their own market and are never priced through a market file: revalue a book of dated trades with --kind risk --market, or price it locally with riskpool price --market".to_string());
            }
        }
    }
    if let Some(image) = &o.image {
        if let Some(why) = image_reference_problem(image) {
            refuse(
                &mut out,
                "--image (containerSettings.imageName)",
                format!(
                    "`{}` is not a full image reference such as myacr.azurecr.io/riskpool:cuda: {why}",
                    image.escape_debug()
                ),
            );
        }
    }
    if !(0..=MAX_RETRIES).contains(&o.max_retries) {
        let why = if o.max_retries == -1 {
            "-1 is Batch's \"retry without limit\", which riskpool refuses: a task that fails every time would be rerun, holding a node, until the job's time limit"
        } else {
            "retries are counted"
        };
        refuse(
            &mut out,
            "--max-retries (constraints.maxTaskRetryCount)",
            format!("{} is outside 0 to {MAX_RETRIES}: {why}", o.max_retries),
        );
    }
    let task_limit = check_time_limit(
        &mut out,
        "--task-time-limit (constraints.maxWallClockTime of every task)",
        &o.task_time_limit,
        MIN_TIME_LIMIT,
        MAX_TASK_TIME_LIMIT,
    );
    let job_limit = check_time_limit(
        &mut out,
        "--job-time-limit (constraints.maxWallClockTime of the job)",
        &o.job_time_limit,
        MIN_TIME_LIMIT,
        MAX_JOB_TIME_LIMIT,
    );
    if let (Some(t), Some(j)) = (task_limit, job_limit) {
        if j < t {
            refuse(
                &mut out,
                "--job-time-limit (constraints.maxWallClockTime of the job)",
                format!(
                    "`{}` is shorter than --task-time-limit `{}`: the job, counted from its creation, would end before one task could use its time",
                    o.job_time_limit, o.task_time_limit
                ),
            );
        }
    }
    out
}

/// The job against the management-plane pool body it runs on
/// (`--pool-body`, named `file`): the job's identity is one of the pool's
/// (the tasks move blobs with it, and a node has only its pool's), and
/// `--image` is given exactly when the pool runs containers, from a
/// registry the pool logs in to.
pub fn check_job_against_pool(
    o: &JobOptions,
    pool: &serde_json::Value,
    file: &str,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    let identities: Vec<&str> = pool["identity"]["userAssignedIdentities"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    // Resource ids are compared as Azure compares them, ignoring case.
    if !identities
        .iter()
        .any(|i| i.eq_ignore_ascii_case(&o.storage.identity))
    {
        let has = if identities.is_empty() {
            "it has no user-assigned identity".to_string()
        } else {
            format!("its identities are {}", identities.join(", "))
        };
        refuse(&mut out, "--identity (identityReference.resourceId)", format!(
            "`{}` is not one of the pool's identities in {file} (--pool-body): {has}; the tasks read and write blobs with the identity, and a node has only its pool's",
            o.storage.identity));
    }
    let vm = &pool["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"];
    let containers = vm.get("containerConfiguration").filter(|c| !c.is_null());
    match (containers, &o.image) {
        (Some(_), None) => refuse(&mut out, "--image (containerSettings.imageName)", format!(
            "the pool in {file} (--pool-body) runs tasks in containers (containerConfiguration): give the image the tasks run in, one the pool's containerImageNames name")),
        (None, Some(image)) => refuse(&mut out, "--image (containerSettings.imageName)", format!(
            "the pool in {file} (--pool-body) has no containerConfiguration, so its nodes cannot run `{image}`: drop --image (riskpool is installed on a custom-image pool's nodes), or write the pool with --image")),
        (Some(c), Some(image)) => {
            let registries: Vec<&str> = c["containerRegistries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["registryServer"].as_str())
                .collect();
            let of = crate::container::registry_of(image);
            if !registries.is_empty() && !registries.iter().any(|r| r.eq_ignore_ascii_case(of)) {
                refuse(&mut out, "--image (containerSettings.imageName)", format!(
                    "`{image}` is not in a registry the pool in {file} (--pool-body) logs in to ({}): its nodes could not pull it",
                    registries.join(", ")));
            }
        }
        (None, None) => {}
    }
    out
}

/// Most retries of a failed task (`--max-retries`).
pub const MAX_RETRIES: i32 = 10;
/// The least `--task-time-limit` and `--job-time-limit`, seconds.
pub const MIN_TIME_LIMIT: f64 = 60.0;
/// Most `--task-time-limit`, seconds.
pub const MAX_TASK_TIME_LIMIT: f64 = 7.0 * 86_400.0;
/// Most `--job-time-limit`, seconds.
pub const MAX_JOB_TIME_LIMIT: f64 = 30.0 * 86_400.0;

/// A time limit `value` (an ISO 8601 duration) within `min..=max` seconds:
/// its length, or a refusal.
fn check_time_limit(
    out: &mut Vec<Refusal>,
    field: &str,
    value: &str,
    min: f64,
    max: f64,
) -> Option<f64> {
    let show = |s: f64| {
        if s >= 86_400.0 && s % 86_400.0 == 0.0 {
            format!("P{}D", s / 86_400.0)
        } else if s % 3600.0 == 0.0 {
            format!("PT{}H", s / 3600.0)
        } else {
            format!("PT{}M", s / 60.0)
        }
    };
    match duration_seconds(value) {
        Some(s) if (min..=max).contains(&s) => Some(s),
        Some(_) => {
            refuse(
                out,
                field,
                format!("`{value}` is outside {} to {}", show(min), show(max)),
            );
            None
        }
        None => {
            refuse(
                out,
                field,
                format!("`{value}` is not an ISO 8601 duration such as PT2H or P1D"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_sizes() {
        assert_eq!(vm_size_vcpus("Standard_NC24ads_A100_v4"), Some(Some(24)));
        assert_eq!(vm_size_vcpus("Standard_ND96isr_H100_v5"), Some(Some(96)));
        assert_eq!(vm_size_vcpus("standard_d2s_v3"), Some(Some(2)));
        assert_eq!(vm_size_vcpus("Standard_E8-4s_v5"), Some(Some(4)));
        assert_eq!(vm_size_vcpus("STANDARD_D4"), Some(None));
        for bad in [
            "not a size!",
            "Standard_",
            "Standard_NC",
            "D16s_v5",
            "Standard_D16s v5",
        ] {
            assert_eq!(vm_size_vcpus(bad), None, "{bad}");
        }
    }

    #[test]
    fn image_references() {
        for good in [
            "myacr.azurecr.io/riskpool:cuda",
            "myacr.azurecr.io/riskpool",
            "localhost/x",
            "localhost:5000/a/b",
            "r.io:443/a.b/c_d/e__f/g---h:_x.Y-1",
        ] {
            assert_eq!(image_reference_problem(good), None, "{good}");
        }
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            image_reference_problem(&format!("r.io/x:t@sha256:{hex}")),
            None
        );
        for bad in [
            "riskpool:cuda",
            "r.io/X",
            "r.io/x:",
            "r.io/x:-t",
            "r.io//x",
            "r.io/x/",
            "r.io/x:a\tb",
            "r.io/x@sha256:zz",
            "r.io/x@sha256:",
            "r.io/x@",
            "r.io/a..b",
            "r.io/a___b",
            "r.io/a_-b",
            "r.io/x:$(id)",
            "r.io/x`",
            "r..io/x",
            "r.io:0/x",
            "r.io:x/y",
            "-r.io/x",
            "myacr/x",
        ] {
            assert!(image_reference_problem(bad).is_some(), "{bad}");
        }
        assert!(image_reference_problem(&format!("r.io/x:{}", "t".repeat(129))).is_some());
        assert!(image_reference_problem(&format!("r.io/x:{}", "t".repeat(128))).is_none());
        assert!(
            image_reference_problem(&format!("r.io/x@sha256:{}", hex.to_uppercase())).is_some()
        );
    }

    #[test]
    fn node_agents() {
        for good in [
            "batch.node.ubuntu 22.04",
            "batch.node.el 8",
            "batch.node.windows amd64",
        ] {
            assert_eq!(node_agent_problem(good), None, "{good}");
        }
        for bad in [
            "",
            " ",
            "\n",
            "batch.node.",
            "batch.node. ",
            "batch.node.ubuntu 22.04 ",
            "batch.node.ubuntu  22.04",
            "batch.node.ubuntu\t22.04",
            "batch.node.ubuntu 22.04\n",
            "ubuntu 22.04",
        ] {
            assert!(node_agent_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn ids_and_resource_ids() {
        assert!(id_ok("gpu-pool_1"));
        assert!(!id_ok("my pool!"));
        assert!(!id_ok(&"a".repeat(65)));
        assert!(id_ok(&"a".repeat(64)));
        let id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/riskpool";
        assert!(identity_ok(id));
        assert!(!identity_ok("notaresourceid"));
        assert!(!identity_ok(&id.replace("00000000-", "x-")));
        assert!(!identity_ok(&id.replace("ManagedIdentity", "Compute")));
        let g = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/riskpool/versions/1.0.0";
        assert!(gallery_image_ok(g));
        assert!(!gallery_image_ok(id));
        assert!(storage_url_ok("https://acct.blob.core.windows.net/work"));
        assert!(storage_url_ok("https://acct.blob.core.windows.net/work/"));
        assert!(!storage_url_ok(
            "https://acct.blob.core.windows.net/work/sub"
        ));
        assert!(!storage_url_ok("http://acct.blob.core.windows.net/work"));
        assert!(!storage_url_ok("https://Acct.blob.core.windows.net/work"));
        assert!(!storage_url_ok("https://acct.blob.core.windows.net/wo"));
    }
}
