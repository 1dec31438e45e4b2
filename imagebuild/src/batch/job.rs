//! The job and its task graph: generate (or an existing book) -> split ->
//! price_0..N-1 -> concat.
//!
//! Files move the Batch way, never through a shared mount: each task gets
//! its inputs as `resourceFiles` from the job's blob container (read with
//! the pool's managed identity), works on local disk in its own working
//! directory (where the runner's resume protocol, append-fsync-rename,
//! holds), and Batch uploads its outputs with `outputFiles` when it
//! succeeds. Every blob a job writes is under `JOB_ID/`:
//!
//! | blob | written by | read by |
//! |---|---|---|
//! | `JOB/trades.csv` | generate | split |
//! | (or the book, `--book NAME`, as it is) | the user | split |
//! | `JOB/parts/trades.K.csv` | split | price K |
//! | `JOB/results/trades.K.results.csv` | price K | concat (prefix `JOB/results/`) |
//! | `JOB/summaries/trades.K.results.csv.summary.json` | price K | the user |
//! | `JOB/results.csv` | concat | the user |
//! | `JOB/logs/TASK/stdout.txt`, `stderr.txt` | every task, success or not | the user |
//!
//! concat takes its job's parts only (the blob prefix carries the job id and
//! ends with `/`, so job `a` never reads job `ab`'s), and `riskpool concat
//! --expect N` refuses unless exactly N distinct part files came.
//!
//! `--kind risk` makes the risk graph instead: risk_0..N-1 -> merge. Each
//! shard task revalues its trades (stream id K mod N) of the book under
//! every scenario of the scenario file, both resource files (and the
//! market file, `--market`, a third, for books of dated trades), and
//! uploads its part; the merge task takes the job's parts and writes the
//! figures:
//!
//! | blob | written by | read by |
//! |---|---|---|
//! | the book, `--book NAME` (portfolio JSON Lines or JSON) | the user | risk K |
//! | the scenarios, `--scenarios NAME` (CSV) | the user | risk K |
//! | the market, `--market NAME` (JSON), when given | the user | risk K (`--market market.json`) |
//! | `JOB/risk-parts/risk.K.part.jsonl` | risk K | merge (prefix `JOB/risk-parts/`) |
//! | `JOB/pnl.csv`, `pnl.csv.summary.json`, `by-trade.csv`, `risk.html` | merge | the user |
//!
//! `riskpool risk-merge` refuses unless every shard 0..N-1 came exactly
//! once, all of one run (book, scenarios, seed).
//!
//! The job is created with `onAllTasksComplete: noaction` (a job with no
//! tasks yet counts as complete), the tasks are added, and then
//! [`TERMINATE_PATCH`] sets `terminatejob`.
//!
//! Every task has a time limit (`constraints.maxWallClockTime`,
//! `--task-time-limit`) and so has the job (`--job-time-limit`), and
//! retries are bounded: a hung or ever-failing task cannot keep a node
//! billed for ever.

use serde_json::{json, Value};

use super::MAX_TASKS_PER_COLLECTION;

/// Where the job's files live and who may touch them.
#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER`.
    pub url: String,
    /// The user-assigned identity (resource id, one of the pool's) with
    /// Storage Blob Data Contributor on the container.
    pub identity: String,
}

/// Which graph a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// generate/split -> price_0..N-1 -> concat.
    Price,
    /// risk_0..N-1 (shards of the book under every scenario) -> merge.
    Risk,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobOptions {
    pub kind: JobKind,
    /// Risk jobs: the scenario file's blob name in the container.
    pub scenarios: Option<String>,
    /// Risk jobs: the market file's blob name in the container (what the
    /// book's dated trades are revalued through), given to every shard task.
    pub market: Option<String>,
    pub id: String,
    pub pool_id: String,
    /// The container image the tasks run in (None on custom-image pools).
    pub image: Option<String>,
    /// Trades to generate, or the number of trades in `book`.
    pub trades: u64,
    /// An existing azfinsim trade file: its blob name in the container.
    pub book: Option<String>,
    pub price_tasks: u64,
    /// `pvonly` or `deltavega`.
    pub algorithm: String,
    /// `--seed`, passed to the tasks only when given (else riskpool's own
    /// default applies, as in a local run).
    pub seed: Option<u64>,
    pub storage: Storage,
    /// Retries for a failed task (pre-emptions are rerun regardless):
    /// 0 to [`super::rules::MAX_RETRIES`], never -1 (without limit).
    pub max_retries: i32,
    /// Each task's `constraints.maxWallClockTime` (ISO 8601): a task still
    /// running then is ended by Batch, and fails.
    pub task_time_limit: String,
    /// The job's `constraints.maxWallClockTime` (ISO 8601), counted from its
    /// creation (waiting for nodes included): Batch then ends the job and
    /// its running tasks (terminate reason `MaxWallClockTimeExpiry`).
    pub job_time_limit: String,
}

impl JobOptions {
    /// Trades per part file.
    pub fn trades_per_file(&self) -> u64 {
        self.trades.div_ceil(self.price_tasks.max(1)).max(1)
    }

    /// Part files split makes, so price tasks (risk jobs: the shards).
    pub fn parts(&self) -> u64 {
        match self.kind {
            JobKind::Price => self.trades.div_ceil(self.trades_per_file()),
            JobKind::Risk => self.price_tasks.max(1),
        }
    }

    fn url(&self) -> &str {
        self.storage.url.trim_end_matches('/')
    }

    fn identity(&self) -> Value {
        json!({"resourceId": self.storage.identity})
    }
}

/// The Job_Patch body that ends the job when its tasks are done, sent after
/// the tasks are added (`az batch job set --on-all-tasks-complete terminatejob`).
pub fn terminate_patch() -> Value {
    json!({"onAllTasksComplete": "terminatejob"})
}

/// Name of [`terminate_patch`]'s file in the job folder.
pub const TERMINATE_PATCH: &str = "job-terminate.json";

/// The Job_Add body.
pub fn job(o: &JobOptions) -> Value {
    json!({
        "id": o.id,
        "poolInfo": {"poolId": o.pool_id},
        "usesTaskDependencies": true,
        // Not terminatejob: a job with no tasks yet counts as complete.
        "onAllTasksComplete": "noaction",
        "onTaskFailure": "performexitoptionsjobaction",
        "constraints": {"maxTaskRetryCount": o.max_retries, "maxWallClockTime": o.job_time_limit},
        "metadata": [
            {"name": "created-by", "value": "riskpool-image"},
            {"name": "trades", "value": o.trades.to_string()},
            {"name": "parts", "value": o.parts().to_string()},
        ],
    })
}

/// A blob of the job's container, as a resource file read with the identity.
fn blob_file(o: &JobOptions, blob: &str, file: &str) -> Value {
    json!({"httpUrl": format!("{}/{blob}", o.url()), "filePath": file, "identityReference": o.identity()})
}

/// Uploads of `(file pattern, blob or virtual folder)` on success, and the
/// task's stdout and stderr whatever the outcome.
fn outputs(o: &JobOptions, id: &str, files: &[(&str, String)]) -> Value {
    let dest = |path: String| json!({"container": {"containerUrl": o.url(), "path": path, "identityReference": o.identity()}});
    let mut v: Vec<Value> = files
        .iter()
        .map(|(pattern, path)| {
            json!({"filePattern": pattern, "destination": dest(path.clone()),
                   "uploadOptions": {"uploadCondition": "tasksuccess"}})
        })
        .collect();
    v.push(
        json!({"filePattern": "../std*.txt", "destination": dest(format!("{}/logs/{id}", o.id)),
                  "uploadOptions": {"uploadCondition": "taskcompletion"}}),
    );
    json!(v)
}

fn task(o: &JobOptions, id: &str, command: String, depends: Option<Value>) -> Value {
    let mut t = json!({
        "id": id,
        // Batch runs the command without a shell; sh runs the pipeline.
        "commandLine": format!("/bin/sh -c {}", super::script::sh_quote(&command)),
        "constraints": {"maxTaskRetryCount": o.max_retries, "maxWallClockTime": o.task_time_limit},
        "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
        // A task that fails for good (retries spent) ends the job: nothing
        // after it can complete the results.
        "exitConditions": {"default": {"jobAction": "terminate"}},
    });
    if let Some(image) = &o.image {
        // No --gpus: Batch gives a GPU size's containers their GPUs itself.
        t["containerSettings"] = json!({"imageName": image, "containerRunOptions": "--rm", "workingDirectory": "taskWorkingDirectory"});
    }
    if let Some(d) = depends {
        t["dependsOn"] = d;
    }
    t
}

/// Every task of the graph, in order: generate (unless the job prices a
/// book), split, the price tasks with numeric ids `0..N-1` (so concat
/// depends on their range), concat.
/// ` --seed N` where the job was given one; nothing, so the runner's own
/// default applies, where not.
fn seed_flag(seed: Option<u64>) -> String {
    seed.map_or_else(String::new, |s| format!(" --seed {s}"))
}

pub fn tasks(o: &JobOptions) -> Vec<Value> {
    if o.kind == JobKind::Risk {
        return risk_tasks(o);
    }
    let (job, per_file, parts) = (&o.id, o.trades_per_file(), o.parts());
    let mut tasks = Vec::new();
    let input = match &o.book {
        None => {
            let mut g = task(
                o,
                "generate",
                format!(
                    "riskpool generate --trades {}{} --output trades.csv",
                    o.trades,
                    seed_flag(o.seed)
                ),
                None,
            );
            g["outputFiles"] = outputs(
                o,
                "generate",
                &[("trades.csv", format!("{job}/trades.csv"))],
            );
            tasks.push(g);
            format!("{job}/trades.csv")
        }
        Some(book) => book.clone(),
    };
    // The book must hold the trades the graph was cut for.
    let mut split = task(
        o,
        "split",
        format!(
            "rows=$(($(grep -c . trades.csv) - 1)); if [ \"$rows\" -ne {t} ]; then echo \"split: \"{qinput}\" holds $rows trades, the job was made for {t} (--trades)\" >&2; exit 2; fi; riskpool split --input trades.csv --trades-per-file {per_file} --output-dir parts",
            t = o.trades,
            qinput = super::script::sh_quote(&input),
        ),
        o.book.is_none().then(|| json!({"taskIds": ["generate"]})),
    );
    split["resourceFiles"] = json!([blob_file(o, &input, "trades.csv")]);
    split["outputFiles"] = outputs(
        o,
        "split",
        &[("parts/trades.*.csv", format!("{job}/parts"))],
    );
    tasks.push(split);
    for k in 0..parts {
        let id = k.to_string();
        let mut t = task(
            o,
            &id,
            format!(
                "riskpool azfinsim --cache-path trades.{k}.csv --algorithm {} --output-path results",
                o.algorithm
            ),
            Some(json!({"taskIds": ["split"]})),
        );
        t["resourceFiles"] = json!([blob_file(
            o,
            &format!("{job}/parts/trades.{k}.csv"),
            &format!("trades.{k}.csv")
        )]);
        // The summary goes beside the job's parts, not among them: concat
        // reads `JOB/results/` whole.
        t["outputFiles"] = outputs(
            o,
            &id,
            &[
                (
                    &format!("results/trades.{k}.results.csv"),
                    format!("{job}/results/trades.{k}.results.csv"),
                ),
                (
                    &format!("results/trades.{k}.results.csv.summary.json"),
                    format!("{job}/summaries/trades.{k}.results.csv.summary.json"),
                ),
            ],
        );
        tasks.push(t);
    }
    let mut concat = task(
        o,
        "concat",
        // `./` and `--`: a job id may begin with `-` (`-x`), which neither
        // ls nor riskpool may read as an option. The id has no `.`, so the
        // part number is the third `.`-separated field of `./JOB/results/trades.K.results.csv`.
        format!("riskpool concat --expect {parts} --output results.csv -- $(ls -- ./{qjob}/results/trades.*.results.csv | sort -t. -k3,3n)", qjob = super::script::sh_quote(job)),
        Some(json!({"taskIdRanges": [{"start": 0, "end": parts as i64 - 1}]})),
    );
    // The job's parts only: the prefix carries the job id and ends with `/`.
    concat["resourceFiles"] = json!([{"storageContainerUrl": o.url(), "blobPrefix": format!("{job}/results/"), "identityReference": o.identity()}]);
    concat["outputFiles"] = outputs(
        o,
        "concat",
        &[("results.csv", format!("{job}/results.csv"))],
    );
    tasks.push(concat);
    tasks
}

/// The risk graph: shard tasks with numeric ids `0..N-1`, each revaluing
/// its trades under every scenario, then `merge` (depending on all of them).
fn risk_tasks(o: &JobOptions) -> Vec<Value> {
    let (job, n) = (&o.id, o.parts());
    let book = o.book.clone().unwrap_or_default();
    let scenarios = o.scenarios.clone().unwrap_or_default();
    let mut tasks = Vec::new();
    for k in 0..n {
        let id = k.to_string();
        let part = format!("risk.{k}.part.jsonl");
        let market = if o.market.is_some() {
            " --market market.json"
        } else {
            ""
        };
        let mut t = task(
            o,
            &id,
            format!(
                "riskpool risk --input book.jsonl --scenarios scenarios.csv{market}{} --shard {k}/{n} --output {part}",
                seed_flag(o.seed)
            ),
            None,
        );
        let mut files = vec![
            blob_file(o, &book, "book.jsonl"),
            blob_file(o, &scenarios, "scenarios.csv"),
        ];
        if let Some(m) = &o.market {
            files.push(blob_file(o, m, "market.json"));
        }
        t["resourceFiles"] = json!(files);
        t["outputFiles"] = outputs(o, &id, &[(&part, format!("{job}/risk-parts/{part}"))]);
        tasks.push(t);
    }
    let mut merge = task(
        o,
        "merge",
        // `./` and `--`: a job id may begin with `-`; the glob is outside
        // the quotes. risk-merge refuses missing or doubled shards.
        format!(
            "riskpool risk-merge --output pnl.csv --by-trade by-trade.csv --report risk.html -- ./{qjob}/risk-parts/risk.*.part.jsonl",
            qjob = super::script::sh_quote(job)
        ),
        Some(json!({"taskIdRanges": [{"start": 0, "end": n as i64 - 1}]})),
    );
    merge["resourceFiles"] = json!([{"storageContainerUrl": o.url(), "blobPrefix": format!("{job}/risk-parts/"), "identityReference": o.identity()}]);
    merge["outputFiles"] = outputs(
        o,
        "merge",
        &[
            ("pnl.csv", format!("{job}/pnl.csv")),
            (
                "pnl.csv.summary.json",
                format!("{job}/pnl.csv.summary.json"),
            ),
            ("by-trade.csv", format!("{job}/by-trade.csv")),
            ("risk.html", format!("{job}/risk.html")),
        ],
    );
    tasks.push(merge);
    tasks
}

/// The tasks as lists of at most 100, each one `az batch task create
/// --json-file` call (the CLI takes a bare JSON list) and, wrapped as
/// `{"value": [...]}`, one Task_AddCollection request.
pub fn task_collections(o: &JobOptions) -> Vec<Value> {
    tasks(o)
        .chunks(MAX_TASKS_PER_COLLECTION)
        .map(|c| json!(c))
        .collect()
}
